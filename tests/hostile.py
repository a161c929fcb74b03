"""A corpus of hostile feeds, built in code (no binary fixture files).

Each builder returns the exact bytes a misbehaving publisher would send: malformed XML,
charsets that lie, HTML, empty and huge bodies, unreliable GUIDs, entity bombs, external
entities and decompression bombs. ``serve_corpus`` puts all of them on a ``FeedServer``,
next to a few good feeds, with the responses that must trickle on a ``SlowServer``, and
returns every feed's URL by name so a test can register any subset in one feeds file.

    with FeedServer() as server, SlowServer() as slow:
        corpus = serve_corpus(server, slow, secret_file)
        corpus.urls["billion-laughs"]  # -> "http://127.0.0.1:PORT/billion-laughs.xml"
"""

from __future__ import annotations

import functools
import hashlib
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import brotli
import zstandard

from tests.feedserver import (
    BackgroundServer,
    FeedServer,
    OwnedServer,
    RecordedRequest,
    Responder,
    Response,
)

NOW = datetime(2015, 11, 18, 12, tzinfo=UTC)
"""The time of the first ingest run; feed dates and Retry-After dates are relative to it."""

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
RSS_XML = "application/rss+xml"
"""No charset parameter: the document's own declaration has the say."""
UTF8_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

# -- building documents ----------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One entry. Strings go into the markup verbatim, so a case can inject broken XML."""

    title: str | None
    link: str | None = None
    guid: str | None = None
    published: datetime | None = None
    summary: str | None = None


def rss(
    entries: Sequence[Item],
    *,
    title: str = "A feed",
    declaration: str = UTF8_DECLARATION,
    doctype: str = "",
) -> str:
    """An RSS 2.0 document (text: encode it with the charset the case needs)."""
    return (
        f'{declaration}{doctype}<rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://example.org/</link><description>{title}</description>"
        f"{''.join(_rss_item(entry) for entry in entries)}</channel></rss>"
    )


def _rss_item(item: Item) -> str:
    parts = [
        f"<title>{item.title}</title>" if item.title is not None else "",
        f"<link>{item.link}</link>" if item.link is not None else "",
        f'<guid isPermaLink="false">{item.guid}</guid>' if item.guid is not None else "",
        f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate>"
        if item.published is not None
        else "",
        f"<description>{item.summary}</description>" if item.summary is not None else "",
    ]
    return f"<item>{''.join(parts)}</item>"


def atom(entries: Sequence[Item], *, title: str = "An Atom feed") -> str:
    """An Atom 1.0 document."""
    body = "".join(
        "<entry>"
        f"<id>{entry.guid}</id><title>{entry.title}</title>"
        f'<link rel="alternate" href="{entry.link}"/>'
        f"<published>{entry.published.isoformat() if entry.published else ''}</published>"
        f"<updated>{entry.published.isoformat() if entry.published else ''}</updated>"
        f'<summary type="html">{entry.summary}</summary>'
        "</entry>"
        for entry in entries
    )
    return (
        f'{UTF8_DECLARATION}<feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title>'
        f"<id>urn:feed:{title}</id><updated>{NOW.isoformat()}</updated>{body}</feed>"
    )


def items(host: str, *titles: str) -> list[Item]:
    """Well-formed items on ``host``, an hour apart, each with its own words."""
    return [
        Item(
            title=title,
            link=f"https://{host}/{number}",
            guid=f"tag:{host},2015:{number}",
            published=NOW - timedelta(hours=number),
            summary=f"{title}: reported by {host}, story number {number}.",
        )
        for number, title in enumerate(titles, start=1)
    ]


# -- the good feeds --------------------------------------------------------------------


@dataclass(frozen=True)
class GoodFeed:
    name: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    links: frozenset[str]


def _good(name: str, path: str, body: str, content_type: str, entries: list[Item]) -> GoodFeed:
    links = frozenset(entry.link for entry in entries if entry.link)
    return GoodFeed(name, path, body.encode(), {"Content-Type": content_type}, links)


_HARBOR = items(
    "harbor.example",
    "Port strike enters its third week",
    "Ferry timetable changes for winter",
    "New crane arrives at the container terminal",
)
_MERIDIAN = items(
    "meridian.example",
    "Assaut à Saint-Denis",
    "Budget vote delayed in parliament",
    "Rail workers accept pay offer",
)
_ATLAS = [
    Item(
        title=entry.title,
        link=entry.link,
        guid=entry.guid,
        published=entry.published,
        summary=f"<![CDATA[<p>{entry.summary} <em>Read more</em></p>]]>",
    )
    for entry in items(
        "atlas.example",
        "Museum reopens after renovation",
        "Drought hits olive harvest",
        "Chess champion retains title",
    )
]

GOOD_FEEDS: tuple[GoodFeed, ...] = (
    _good("good-rss", "/good/harbor.xml", rss(_HARBOR, title="Harbor"), RSS_TYPE, _HARBOR),
    _good("good-atom", "/good/meridian.xml", atom(_MERIDIAN), ATOM_TYPE, _MERIDIAN),
    _good("good-rss-cdata", "/good/atlas.xml", rss(_ATLAS, title="Atlas"), RSS_TYPE, _ATLAS),
)
"""Well-behaved RSS 2.0 and Atom feeds, three entries each, to be stored exactly once."""

# -- malformed XML and lying charsets --------------------------------------------------

ACCENTED = "Élysée and Zürich: “talks” — résumé"
"""A title with Latin-1 letters and windows-1252-only punctuation."""
LATIN1_ACCENTED = "Élysée talks resume in Genève"
"""A title that ISO-8859-1 can encode."""


def unescaped_ampersand() -> bytes:
    return rss(
        [
            Item(
                "Fish & chips prices rise", "https://amp.example/1", "amp-1", NOW, "Cod & haddock."
            ),
            Item("Second item", "https://amp.example/2", "amp-2", NOW, "Plain."),
        ]
    ).encode()


def unclosed_tag() -> bytes:
    broken = Item(
        "Unclosed tag ahead", "https://unclosed.example/1", "unclosed-1", NOW, "A <b>bold claim"
    )
    return rss([broken, *items("unclosed.example", "skip", "After the break")[1:]]).encode()


def charset_lie(encoding: str, title: str, host: str) -> bytes:
    """The body in ``encoding``; the server will say UTF-8."""
    return rss([Item(title, f"https://{host}/1", f"{host}/1", NOW, title)]).encode(encoding)


def declared_latin1(host: str) -> bytes:
    """No charset in the header: the XML declaration names ISO-8859-1, and so it is."""
    entry = Item(LATIN1_ACCENTED, f"https://{host}/1", f"{host}/1", NOW, "Genève.")
    return rss([entry], declaration='<?xml version="1.0" encoding="ISO-8859-1"?>').encode("latin-1")


def utf16_with_bom() -> bytes:
    entry = Item(LATIN1_ACCENTED, "https://utf16.example/1", "utf16-1", NOW, "Genève.")
    return rss([entry], declaration='<?xml version="1.0" encoding="utf-16"?>').encode("utf-16")


def stray_bytes_in_utf8() -> bytes:
    """UTF-8 with one byte (0xFF) that is not UTF-8 at all, in the second title."""
    first = Item("Zürich votes on housing", "https://stray.example/1", "stray-1", NOW, "Zürich.")
    second = Item("Broken \udcff byte", "https://stray.example/2", "stray-2", NOW, "Bytes.")
    return rss([first, second]).encode("utf-8", "surrogateescape")


def nul_characters() -> bytes:
    """A raw NUL byte and a ``&#0;`` reference: illegal in XML, and in PostgreSQL text."""
    return rss(
        [
            Item("Null\x00byte in a title", "https://nul.example/1", "nul-1", NOW, "Text\x00."),
            Item("Null&#0;reference", "https://nul.example/2", "nul-2", NOW, "More&#0;text."),
        ]
    ).encode()


def invalid_character_references() -> bytes:
    """References to a lone surrogate and past U+10FFFF: no character at all, in any XML."""
    return rss(
        [
            Item("Lone surrogate &#xD800; here", "https://charref.example/1", "charref-1", NOW),
            Item("Past Unicode &#x110000; here", "https://charref.example/2", "charref-2", NOW),
            Item("Plain neighbour", "https://charref.example/3", "charref-3", NOW, "Plain."),
        ]
    ).encode()


LONG_KEY = "".join(hashlib.sha256(str(n).encode()).hexdigest() for n in range(50))[:3000]
"""3,000 characters that do not compress: longer than a PostgreSQL btree entry may be."""


def very_long_guid() -> bytes:
    return rss(
        [
            Item("A 3 kB GUID", "https://longguid.example/1", f"urn:x:{LONG_KEY}", NOW, "Long."),
            Item("Short GUID", "https://longguid.example/2", "longguid-2", NOW, "Short."),
        ]
    ).encode()


def very_long_link() -> bytes:
    link = f"https://longlink.example/1?token={LONG_KEY}"
    return rss(
        [
            Item("A 3 kB link", link, "longlink-1", NOW, "Long."),
            Item("Short link", "https://longlink.example/2", "longlink-2", NOW, "Short."),
        ]
    ).encode()


HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>Harbor - Home</title>\n"
    b"<link rel='alternate' type='application/rss+xml' href='/feed'></head>\n"
    b"<body><p>Welcome&nbsp;back<br><p>Our feed moved. <a href='/feed'>Subscribe</a>\n"
    b"</body></html>\n"
)


@functools.cache
def huge_body(size: int) -> bytes:
    """A well-formed feed of at least ``size`` bytes: all of it would be stored if let in."""
    entries = [
        Item(f"Huge item {n}", f"https://huge.example/{n}", f"huge-{n}", NOW, "x" * 200)
        for n in range(size // 300 + 1)
    ]
    return rss(entries).encode()


def truncated_body() -> tuple[bytes, int]:
    """Two complete items, then the connection closes; the declared length is longer."""
    whole = rss(items("truncated.example", "Complete item one", "Complete item two")).encode()
    cut = whole.index(b"</channel>")
    return whole[:cut], len(whole) + 1000


# -- identity ----------------------------------------------------------------------------


def duplicate_guids() -> bytes:
    """Two different entries under one GUID (a CMS that puts the section id there)."""
    return rss(
        [
            Item("Harbour fire contained", "https://dupguid.example/fire", "section-7", NOW),
            Item("Mayor resigns", "https://dupguid.example/mayor", "section-7", NOW),
        ]
    ).encode()


def unstable_guids(fetch_number: int) -> bytes:
    """The same two entries under fresh GUIDs on every fetch (a session id in the GUID)."""
    return rss(
        [
            Item(
                title,
                f"https://unstable.example/{n}",
                f"urn:session:{fetch_number}:{n}",
                NOW - timedelta(hours=n),
                f"{title}, as before.",
            )
            for n, title in enumerate(["Storm warning issued", "Schools close early"], start=1)
        ]
    ).encode()


NO_LINK_NO_DATE = (
    Item("Has a GUID but no link and no date", guid="nolink-1", summary="One."),
    Item("Has neither GUID, link nor date", summary="Two."),
    Item("Has a link but no date", link="https://nolink.example/3", summary="Three."),
    Item(None, summary="Only a description, no title, no link, no date."),
)


def changed_text(version: int) -> bytes:
    """The same entry (same GUID and link) whose text is corrected between fetches."""
    return rss(
        [
            Item(
                f"Minister resigns (version {version})",
                "https://changed.example/1",
                "changed-1",
                NOW - timedelta(hours=1),
                f"Corrected text, version {version}.",
            ),
            Item("Unchanged neighbour", "https://changed.example/2", "changed-2", NOW, "Same."),
        ]
    ).encode()


# -- XML attacks -------------------------------------------------------------------------

CANARY_ENTITY = "/canary/entity.txt"
CANARY_PARAMETER = "/canary/parameter.dtd"
CANARY_DTD = "/canary/external.dtd"
CANARY_TEXT = "CANARY-FETCHED-BY-THE-XML-PARSER"


def billion_laughs() -> bytes:
    """Ten levels of ten references: 10**9 'lol's if a parser expands them."""
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">' for level in range(1, 10)
    ]
    doctype = f"<!DOCTYPE rss [{''.join(levels)}]>"
    entry = Item("&lol9;", "https://lol.example/1", "lol-1", NOW, "&lol9;")
    return rss([entry, *items("lol.example", "x", "After the bomb")[1:]], doctype=doctype).encode()


def quadratic_blowup() -> bytes:
    """One 50 kB entity referenced a thousand times: 50 MB if expanded."""
    doctype = f'<!DOCTYPE rss [<!ENTITY big "{"B" * 50_000}">]>'
    entry = Item("&big;" * 1000, "https://quad.example/1", "quad-1", NOW, "&big;" * 1000)
    return rss(
        [entry, *items("quad.example", "x", "After the blowup")[1:]], doctype=doctype
    ).encode()


def external_entity(targets: Sequence[str], host: str) -> bytes:
    """External general entities (``file://`` or ``http://``) referenced in title and text."""
    declarations = "".join(
        f'<!ENTITY xxe{n} SYSTEM "{target}">' for n, target in enumerate(targets)
    )
    references = " ".join(f"&xxe{n};" for n in range(len(targets)))
    entry = Item(f"Leak: {references}", f"https://{host}/1", f"{host}/1", NOW, f"Body {references}")
    return rss(
        [entry, *items(host, "x", "Innocent neighbour")[1:]],
        doctype=f"<!DOCTYPE rss [{declarations}]>",
    ).encode()


def parameter_entity(dtd_url: str) -> bytes:
    doctype = f'<!DOCTYPE rss [<!ENTITY % remote SYSTEM "{dtd_url}"> %remote;]>'
    return rss(items("xxeparam.example", "Parameter entity feed"), doctype=doctype).encode()


def external_dtd(dtd_url: str) -> bytes:
    doctype = f'<!DOCTYPE rss SYSTEM "{dtd_url}">'
    return rss(items("extdtd.example", "External DTD feed"), doctype=doctype).encode()


# -- compression -------------------------------------------------------------------------

BOMB_EXPANDED_BYTES = 256 * 1024 * 1024
"""What each decompression bomb expands to."""
_BOMB_HEAD = f"{UTF8_DECLARATION}<rss version='2.0'><channel><title>".encode()


def _bomb_chunks() -> Iterator[bytes]:
    yield _BOMB_HEAD
    filler = b" <" * (512 * 1024)  # 1 MiB of whitespace and '<'
    for _ in range((BOMB_EXPANDED_BYTES - len(_BOMB_HEAD)) // len(filler)):
        yield filler


@functools.cache
def gzip_bomb() -> bytes:
    """About 256 kB of gzip that inflates to 256 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return b"".join([*map(compressor.compress, _bomb_chunks()), compressor.flush()])


@functools.cache
def brotli_bomb() -> bytes:
    """A few hundred bytes of brotli that inflate to 256 MiB."""
    compressor = brotli.Compressor(quality=5)
    return b"".join([*map(compressor.process, _bomb_chunks()), compressor.finish()])


@functools.cache
def zstd_bomb() -> bytes:
    """A few kB of zstd that inflate to 256 MiB."""
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join([*map(compressor.compress, _bomb_chunks()), compressor.flush()])


def brotli_feed() -> bytes:
    return bytes(brotli.compress(rss(items("brotli.example", "Compressed with brotli")).encode()))


# -- HTTP behaviour ----------------------------------------------------------------------

ETAG = 'W/"5e1f-2a;gzip"'
"""A weak ETag with a semicolon: it must go back byte for byte, quotes and W/ included."""
LAST_MODIFIED = "Wed, 18 Nov 2015 09:00:00 GMT"
NON_ASCII_ETAG = '"caf\xe9-1"'
"""An ETag with an obs-text byte (0xE9), which HTTP allows; sent and read as Latin-1."""
RETRY_AFTER_DATE = NOW + timedelta(hours=2)

MOVED_FROM, MOVED_TO = "/moved/old.xml", "/moved/new.xml"
MOVED_308_FROM, MOVED_308_TO = "/moved308/old.xml", "/moved308/new.xml"
FOUND_FROM, FOUND_TO = "/found/old.xml", "/found/current.xml"
TEMPORARY_307_FROM, TEMPORARY_307_TO = "/temp307/old.xml", "/temp307/current.xml"
CHAIN_FROM, CHAIN_VIA, CHAIN_TO = "/chain/old.xml", "/chain/via.xml", "/chain/current.xml"
LOOP_A, LOOP_B = "/loop/a.xml", "/loop/b.xml"


def conditional(etag: str, body: bytes) -> Responder:
    """200 with ``etag`` (and a Last-Modified), 304 when the request sends ``etag`` back."""

    def answer(request: RecordedRequest) -> Response:
        headers = {"Content-Type": RSS_TYPE, "ETag": etag, "Last-Modified": LAST_MODIFIED}
        if request.headers.get("if-none-match") == etag:
            return Response(304, headers)
        return Response(200, headers, body)

    return answer


def per_fetch(build: Callable[[int], bytes]) -> Responder:
    """``build(n)`` for the n-th request (1-based): a feed that changes between fetches."""
    count = 0
    lock = threading.Lock()

    def answer(request: RecordedRequest) -> Response:
        nonlocal count
        with lock:
            count += 1
            number = count
        return Response(200, {"Content-Type": RSS_TYPE}, build(number))

    return answer


# -- the slow server -------------------------------------------------------------------

DRIP_PATH = "/slow/drip.xml"
STALL_PATH = "/slow/stall.xml"


class SlowServer(BackgroundServer):
    """A real HTTP server on 127.0.0.1 for answers that take their time.

    ``DRIP_PATH`` sends its headers at once, then the body one byte every ``drip_interval``
    seconds: a read timeout never trips, only a deadline on the whole download does.
    ``STALL_PATH`` reads the request and sends nothing, not even headers, until it stops.
    """

    def __init__(self, body: bytes | None = None, *, drip_interval: float = 0.1) -> None:
        super().__init__()
        self.body = body or rss(items("drip.example", "Dripped one byte at a time")).encode()
        self.drip_interval = drip_interval
        self.closing = threading.Event()
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _SlowHandler

    def _before_stop(self) -> None:
        self.closing.set()  # ends every drip and stall at its next step

    def requests_for(self, path: str) -> int:
        with self._lock:
            return self._counts[path]

    def clear_requests(self) -> None:
        with self._lock:
            self._counts.clear()

    def _record(self, path: str) -> None:
        with self._lock:
            self._counts[path] += 1


class _SlowHandler(BaseHTTPRequestHandler):
    server: OwnedServer

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._record(self.path)
        if self.path == STALL_PATH:
            owner.closing.wait(30)
            return
        if self.path != DRIP_PATH:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", RSS_TYPE)
        self.send_header("Content-Length", str(len(owner.body)))
        self.end_headers()
        for byte in owner.body:
            if owner.closing.wait(owner.drip_interval):
                return
            try:
                self.wfile.write(bytes([byte]))
            except OSError:
                return  # the client gave up

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no access log on stderr."""


# -- everything on the servers -----------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    urls: dict[str, str]
    """Feed name -> the URL to register, for the good feeds and every hostile one."""
    paths: dict[str, str]
    """Feed name -> the path the feed is first requested at (on whichever server)."""
    secret: str
    """The text of the local file the external-entity feeds point at: never to be stored."""


def serve_corpus(server: FeedServer, slow: SlowServer, secret_file: Path) -> Corpus:
    """Put the good feeds and every hostile feed on the servers; returns their URLs by name.

    Serving again on the same servers starts over: fresh routes (the feeds that change per
    fetch count from one again) and empty request logs.
    """
    server.clear_requests()
    slow.clear_requests()
    urls: dict[str, str] = {}

    def static(name: str, body: bytes, *, status: int = 200, **headers: str) -> None:
        path = f"/{name}.xml"
        server.route(path, body, status=status, headers=_headers(headers))
        urls[name] = server.url(path)

    def dynamic(name: str, answer: Responder) -> None:
        path = f"/{name}.xml"
        server.respond(path, answer)
        urls[name] = server.url(path)

    def redirect(name: str, hops: Sequence[tuple[str, int]], target: str, title: str) -> None:
        for (path, status), (next_path, _) in zip(hops, [*hops[1:], (target, 0)], strict=True):
            server.route(path, status=status, headers={"Location": server.url(next_path)})
        body = rss(items(f"{name}.example", title)).encode()
        server.route(target, body, headers={"Content-Type": RSS_TYPE})
        urls[name] = server.url(hops[0][0])

    for good in GOOD_FEEDS:
        server.route(good.path, good.body, headers=good.headers)
        urls[good.name] = server.url(good.path)

    # malformed XML that still has entries
    static("malformed-ampersand", unescaped_ampersand(), content_type=RSS_TYPE)
    static("malformed-unclosed-tag", unclosed_tag(), content_type=RSS_TYPE)
    static("nul-characters", nul_characters(), content_type=RSS_TYPE)
    static("invalid-character-references", invalid_character_references(), content_type=RSS_TYPE)
    # charsets
    latin1, cp1252 = ("latin-1", LATIN1_ACCENTED), ("cp1252", ACCENTED)
    static("charset-latin1-said-utf8", charset_lie(*latin1, "l1.example"), content_type=RSS_TYPE)
    static("charset-cp1252-said-utf8", charset_lie(*cp1252, "cp.example"), content_type=RSS_TYPE)
    static("charset-none-declared-latin1", declared_latin1("d1.example"), content_type=RSS_XML)
    static(
        "charset-textxml-declared-latin1", declared_latin1("d2.example"), content_type="text/xml"
    )
    static("utf16-with-bom", utf16_with_bom(), content_type="application/xml")
    static("utf8-with-stray-bytes", stray_bytes_in_utf8(), content_type=RSS_TYPE)
    # not a feed at all
    static("html-page", HTML_PAGE, content_type="text/html; charset=utf-8")
    static("empty-200", b"", content_type=RSS_TYPE)
    # sizes, speeds and broken transfers
    static("huge-body", huge_body(1024 * 1024), content_type=RSS_TYPE)
    body, declared = truncated_body()
    static("truncated-body", body, content_type=RSS_TYPE, content_length=str(declared))
    urls["slow-drip"] = slow.url(DRIP_PATH)
    urls["stalled-headers"] = slow.url(STALL_PATH)
    # compression
    static("brotli-good", brotli_feed(), content_type=RSS_TYPE, content_encoding="br")
    static("gzip-bomb", gzip_bomb(), content_type=RSS_TYPE, content_encoding="gzip")
    static("brotli-bomb", brotli_bomb(), content_type=RSS_TYPE, content_encoding="br")
    static("zstd-bomb", zstd_bomb(), content_type=RSS_TYPE, content_encoding="zstd")
    static("gzip-header-plain-body", unescaped_ampersand(), content_encoding="gzip")
    # redirects
    redirect("moved-301", [(MOVED_FROM, 301)], MOVED_TO, "Moved for good")
    redirect("moved-308", [(MOVED_308_FROM, 308)], MOVED_308_TO, "Moved for good by 308")
    redirect("found-302", [(FOUND_FROM, 302)], FOUND_TO, "Found elsewhere for now")
    redirect("temporary-307", [(TEMPORARY_307_FROM, 307)], TEMPORARY_307_TO, "Elsewhere by 307")
    redirect("moved-then-found", [(CHAIN_FROM, 301), (CHAIN_VIA, 302)], CHAIN_TO, "Two hops away")
    server.route(LOOP_A, status=302, headers={"Location": server.url(LOOP_B)})
    server.route(LOOP_B, status=302, headers={"Location": server.url(LOOP_A)})
    urls["redirect-loop"] = server.url(LOOP_A)
    static("redirect-to-file-url", b"", status=302, location=secret_file.as_uri())
    # conditional GET
    dynamic("etag-304", conditional(ETAG, rss(items("etag.example", "Cached", "Twice")).encode()))
    dynamic(
        "etag-non-ascii",
        conditional(NON_ASCII_ETAG, rss(items("etagbyte.example", "Odd ETag")).encode()),
    )
    # refusals
    static("rate-limited-429", b"slow down\n", status=429, retry_after="120")
    static(
        "unavailable-503-date",
        b"maintenance\n",
        status=503,
        retry_after=format_datetime(RETRY_AFTER_DATE, usegmt=True),
    )
    static("rate-limited-absurd", b"", status=429, retry_after="999999999")
    static("unavailable-garbage", b"", status=503, retry_after="soon, we promise")
    static("server-error-500", b"<h1>Internal error</h1>\n", status=500)
    static("gone-410", b"gone\n", status=410)
    # identity
    static("very-long-guid", very_long_guid(), content_type=RSS_TYPE)
    static("very-long-link", very_long_link(), content_type=RSS_TYPE)
    static("duplicate-guids", duplicate_guids(), content_type=RSS_TYPE)
    dynamic("unstable-guids", per_fetch(unstable_guids))
    static("no-links-no-dates", rss(NO_LINK_NO_DATE).encode(), content_type=RSS_TYPE)
    dynamic("changed-text", per_fetch(lambda n: changed_text(min(n, 2))))
    # XML attacks
    static("billion-laughs", billion_laughs(), content_type=RSS_TYPE)
    static("quadratic-blowup", quadratic_blowup(), content_type=RSS_TYPE)
    static(
        "xxe-local-file",
        external_entity([secret_file.as_uri(), "file:///etc/hostname"], "xxefile.example"),
        content_type=RSS_TYPE,
    )
    xxe_http = external_entity([server.url(CANARY_ENTITY)], "xxehttp.example")
    static("xxe-http", xxe_http, content_type=RSS_TYPE)
    static(
        "xxe-parameter-entity",
        parameter_entity(server.url(CANARY_PARAMETER)),
        content_type=RSS_TYPE,
    )
    static("external-dtd", external_dtd(server.url(CANARY_DTD)), content_type=RSS_TYPE)
    for canary in (CANARY_ENTITY, CANARY_PARAMETER, CANARY_DTD):
        server.route(canary, CANARY_TEXT.encode(), headers={"Content-Type": "text/plain"})

    paths = {name: urlsplit(url).path for name, url in urls.items()}
    return Corpus(urls, paths, secret_file.read_text())


def _headers(given: Mapping[str, str]) -> dict[str, str]:
    """``content_type="x"`` -> ``{"Content-Type": "x"}``."""
    return {
        "-".join(word.capitalize() for word in key.split("_")): value
        for key, value in given.items()
    }

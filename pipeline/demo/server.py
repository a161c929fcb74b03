"""The demo feeds, re-dated to the present and served over HTTP (``storyline demo-feeds``).

The bundled demo news is from November 2015, but a deployment clusters the window that ends
at the real clock (72 hours by default), so the feeds as written never show a story there.
This module moves every date in the demo documents by one whole-hour shift, chosen when the
server starts so that the newest demo date lands just before the current hour, and serves the
result with a feeds file pointing at it: a machine without internet gets the demo's stories.

The date rewriting and the choice of the shift are pure functions of bytes and times; the
HTTP server and the file reading sit at the bottom of the module.
"""

from __future__ import annotations

import hashlib
import logging
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime, parsedate_tz
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml

from pipeline.errors import ConfigError
from pipeline.ingest.feeds import FeedSpec, load_feeds_file

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""The Last-Modified of a resource with no date."""
FEEDS_PATH = "/feeds.yaml"

# --- re-dating a document (pure) -------------------------------------------------------------

# Regular expressions over the element text rather than an XML round trip: a parser and
# serialiser would re-encode the whole document (attribute quotes, namespace prefixes,
# CDATA sections, character escapes, the XML declaration), so the served feeds would differ
# from the bundled ones in far more than their dates. Working on bytes also leaves the
# document's encoding alone. CDATA sections and comments are matched first and kept as they
# are, so a date-like element quoted inside them is not touched.
_DATE_TAG = (
    rb"(?:[A-Za-z_][\w.-]*:)?(?:pubDate|lastBuildDate|published|updated)"  # RSS 2.0, Atom
    rb"|[A-Za-z_][\w.-]*:date"  # Dublin Core (dc:date), as in RSS 1.0
)
_SCAN = re.compile(
    rb"(?P<skip><!\[CDATA\[.*?\]\]>|<!--.*?-->)"
    rb"|(?P<open><(?P<tag>" + _DATE_TAG + rb")(?:\s[^>]*?)?(?<!/)>)"
    rb"(?P<value>[^<]*)"
    rb"(?P<close></(?P=tag)\s*>)",
    re.DOTALL,
)
_RFC822 = re.compile(
    r"(?:(?P<dow>[A-Za-z]{3}),\s*)?(?P<day>\d{1,2})\s+(?P<month>[A-Za-z]{3})\s+"
    r"(?P<year>\d{4}|\d{2})\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?"
    r"(?:\s+(?P<zone>[A-Za-z]{1,5}|[+-]\d{4}))?"
)
_ISO8601 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:(?P<sep>[Tt ])(?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:(?P<point>[.,])(?P<fraction>\d+))?)?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class _Stamp:
    """One date value as written: its wall-clock time, its offset, and how to write it again.

    The zone is kept as written ("GMT", "-0500", "Z", "+01:00"), so shifting the wall clock
    by a timedelta moves the instant by exactly that much.
    """

    wall: datetime
    offset: timedelta
    render: Callable[[datetime], str]

    @property
    def instant(self) -> datetime:
        return (self.wall - self.offset).replace(tzinfo=UTC)


def _rfc822(text: str) -> _Stamp | None:
    """An RSS date (RFC 822 as amended by RFC 1123), e.g. ``Wed, 18 Nov 2015 11:05:00 GMT``."""
    match = _RFC822.fullmatch(text)
    fields = parsedate_tz(text) if match else None
    if match is None or fields is None:
        return None
    year, month, day, hour, minute, second = fields[:6]
    try:
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    zone = match["zone"]

    def render(moment: datetime) -> str:
        # As wide as written: "8 Nov 15" stays one-digit day, two-digit year.
        mday = f"{moment.day:02d}" if len(match["day"]) == 2 else str(moment.day)
        yyyy = f"{moment.year:04d}" if len(match["year"]) == 4 else f"{moment.year % 100:02d}"
        clock = f"{moment.hour:02d}:{moment.minute:02d}"
        if match["second"] is not None:
            clock += f":{moment.second:02d}"
        weekday = f"{_DAYS[moment.weekday()]}, " if match["dow"] else ""
        tail = f" {zone}" if zone else ""
        return f"{weekday}{mday} {_MONTHS[moment.month - 1]} {yyyy} {clock}{tail}"

    return _Stamp(wall, timedelta(seconds=fields[9] or 0), render)


def _iso8601(text: str) -> _Stamp | None:
    """An Atom or Dublin Core date (RFC 3339 / W3C-DTF), e.g. ``2015-11-18T16:40:00+01:00``."""
    match = _ISO8601.fullmatch(text)
    if match is None:
        return None
    fraction = match["fraction"] or ""
    written = f"{match['date']}T{match['hour'] or '00'}:{match['minute'] or '00'}"
    written += f":{match['second'] or '00'}.{(fraction + '000000')[:6]}"
    zone = match["zone"] or ""
    try:
        wall = datetime.fromisoformat(written)
        aware = datetime.fromisoformat(f"{written}{'+00:00' if zone in {'', 'Z', 'z'} else zone}")
    except ValueError:
        return None
    offset = aware.utcoffset() or timedelta(0)

    def render(moment: datetime) -> str:
        if match["sep"] is None:  # a date alone: moved to the day
            return moment.date().isoformat()
        out = f"{moment.date().isoformat()}{match['sep']}{moment.hour:02d}:{moment.minute:02d}"
        if match["second"] is not None:
            out += f":{moment.second:02d}"
        if fraction:
            # Digits past the sixth are below a microsecond: no timedelta moves them.
            digits = f"{moment.microsecond:06d}"
            out += match["point"] + (digits[: len(fraction)] if len(fraction) <= 6 else digits)
            out += fraction[6:]
        return out + zone

    return _Stamp(wall, offset, render)


def _stamp(value: bytes) -> _Stamp | None:
    """The date written in an element's text, or None if it is not a date we can rewrite."""
    try:
        text = value.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return _iso8601(text) or _rfc822(text)


def _date_elements(document: bytes) -> Iterator[re.Match[bytes]]:
    for match in _SCAN.finditer(document):
        if match["skip"] is None:
            yield match


def document_dates(document: bytes) -> list[datetime]:
    """Every date the document's date elements hold, as UTC instants, in document order.

    A value with no zone is read as UTC (RFC 822's ``-0000``, a bare ISO 8601 time).
    """
    stamps = (_stamp(match["value"]) for match in _date_elements(document))
    return [stamp.instant for stamp in stamps if stamp is not None]


def shift_document(document: bytes, shift: timedelta) -> bytes:
    """The feed document with every date moved by ``shift``; all other bytes as they were.

    Rewritten: RSS ``pubDate`` and ``lastBuildDate`` (RFC 822), Atom ``published`` and
    ``updated``, and ``dc:date`` (ISO 8601), under any namespace prefix. Each value keeps its
    own format (weekday or not, seconds or not, the zone as written, so the same UTC offset)
    and the whitespace around it; the weekday follows the new date. A value that is not a
    date in one of those formats, and anything inside a CDATA section or a comment, is left
    unchanged.
    """

    def rewrite(match: re.Match[bytes]) -> bytes:
        if match["skip"] is not None:
            return match[0]
        value = match["value"]
        stamp = _stamp(value)
        if stamp is None:
            return match[0]
        text = value.decode("ascii")
        core = text.strip()
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(lead) + len(core) :]
        new = f"{lead}{stamp.render(stamp.wall + shift)}{trail}".encode("ascii")
        return match["open"] + new + match["close"]

    return _SCAN.sub(rewrite, document)


# --- the shift (pure) ------------------------------------------------------------------------


def floor_to_hour(moment: datetime) -> datetime:
    """The start of the UTC hour ``moment`` falls in (``moment`` itself if on the hour)."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_to_hour(moment: datetime) -> datetime:
    """The first UTC hour boundary at or after ``moment``."""
    floor = floor_to_hour(moment)
    return floor if floor == moment else floor + HOUR


def demo_shift(newest: datetime, now: datetime) -> timedelta:
    """How far to move the demo's dates: whole hours, ``floor_to_hour(now) - ceil_to_hour(newest)``.

    The newest date then lands at most an hour before the current hour starts, so the demo's
    news (about 69 hours of it) falls inside the clustering window that ends now, and no date
    is in the future, which the parser would otherwise replace by the fetch time. Whole hours
    keep the shift the same for every start within one hour: a server restarted in the same
    hour serves the same documents. Both times must be timezone-aware.
    """
    return floor_to_hour(now) - ceil_to_hour(newest)


# --- what the server serves (pure) -----------------------------------------------------------


@dataclass(frozen=True)
class DemoFeed:
    """One demo feed: its registry entry (name, outlet, language) and its document."""

    spec: FeedSpec
    document: bytes


@dataclass(frozen=True)
class Resource:
    """One response body with its validators."""

    body: bytes
    content_type: str
    etag: str
    last_modified: datetime


@dataclass(frozen=True)
class DemoSite:
    """Everything the server answers, by path, for one shift and one public URL."""

    shift: timedelta
    public_url: str
    resources: Mapping[str, Resource]

    @property
    def feeds_url(self) -> str:
        return self.public_url + FEEDS_PATH

    @property
    def feeds_file(self) -> str:
        """The feeds file served at ``/feeds.yaml``."""
        return self.resources[FEEDS_PATH].body.decode()

    @property
    def feed_count(self) -> int:
        return sum(path != FEEDS_PATH for path in self.resources)


_ROOT_ELEMENT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(rss|feed|RDF)[\s>/]")
_DECLARED_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding=[\"']([A-Za-z][\w.-]*)[\"']")
_FEED_TYPES = {
    b"rss": "application/rss+xml",
    b"feed": "application/atom+xml",
    b"RDF": "application/rdf+xml",
}


def content_type(document: bytes) -> str:
    """The media type of a feed document, from its root element, with its declared charset."""
    root = _ROOT_ELEMENT.search(document)
    media = _FEED_TYPES[root[1]] if root else "application/xml"
    encoding = _DECLARED_ENCODING.match(document)
    return f"{media}; charset={encoding[1].decode().lower()}" if encoding else media


def feed_path(name: str) -> str:
    """Where a demo feed is served: ``/<name>.xml``."""
    return "/" + quote(name, safe="") + ".xml"


def normalise_public_url(url: str) -> str:
    """``url`` without a trailing slash; refused unless it is an http(s) URL of a host."""
    parts = urlsplit(url.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
        raise ConfigError(
            f"public URL {url!r} is not an http(s) URL of a host; use e.g. http://demo-feeds:8090"
        )
    return url.strip().rstrip("/")


def feeds_file_text(feeds: Sequence[DemoFeed], public_url: str) -> str:
    """A feeds file (as ``storyline feeds sync`` reads) for the demo feeds served at ``public_url``.

    Names, outlets and languages are those of the bundled registry, so the served feeds
    replace the bundled ones in a registry that already has them.
    """
    base = normalise_public_url(public_url)
    entries = [
        {
            "name": feed.spec.name,
            "url": base + feed_path(feed.spec.name),
            "outlet": feed.spec.outlet,
            "language": feed.spec.language,
            "enabled": feed.spec.enabled,
            "full_text": feed.spec.full_text,
        }
        for feed in feeds
    ]
    header = (
        "# The Storyline demo feeds, re-dated to the present by `storyline demo-feeds`,\n"
        f"# which serves them at {base}/. Register them with `storyline feeds sync FILE`.\n"
    )
    return header + yaml.safe_dump({"feeds": entries}, sort_keys=False, allow_unicode=True)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def build_site(feeds: Sequence[DemoFeed], shift: timedelta, public_url: str) -> DemoSite:
    """The re-dated documents and the feeds file, each with an ETag and a Last-Modified.

    A document's Last-Modified is its newest (shifted) date; the feeds file's, the newest of
    all of them.
    """
    base = normalise_public_url(public_url)
    resources_by_path: dict[str, Resource] = {}
    newest: list[datetime] = []
    for feed in feeds:
        body = shift_document(feed.document, shift)
        dates = document_dates(body)
        modified = max(dates, default=EPOCH)
        newest.append(modified)
        resources_by_path[feed_path(feed.spec.name)] = Resource(
            body, content_type(body), _etag(body), modified
        )
    listing = feeds_file_text(feeds, base).encode()
    resources_by_path[FEEDS_PATH] = Resource(
        listing,
        "application/yaml; charset=utf-8",
        _etag(listing),
        max(newest, default=EPOCH),
    )
    return DemoSite(shift, base, resources_by_path)


def newest_date(feeds: Sequence[DemoFeed]) -> datetime:
    """The latest date in any of the documents (channel dates included)."""
    dates = [moment for feed in feeds for moment in document_dates(feed.document)]
    if not dates:
        raise ConfigError("the demo feeds hold no dates to shift; the package is damaged")
    return max(dates)


def _entity_tags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()]


def not_modified(resource: Resource, headers: Mapping[str, str]) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110, section 13.2.2).

    ``If-None-Match`` (weak comparison) decides when it is present; otherwise
    ``If-Modified-Since``, to the second. ``headers`` must have lower-case names.
    """
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _entity_tags(if_none_match)
        return "*" in tags or resource.etag.removeprefix("W/") in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return resource.last_modified.replace(microsecond=0) <= since


# --- reading the package, serving, writing (I/O) ---------------------------------------------


def load_demo_feeds() -> list[DemoFeed]:
    """The bundled demo feeds (``pipeline/demo/feeds.yaml`` and its documents)."""
    registry = Path(str(resources.files("pipeline.demo") / "feeds.yaml"))
    return [DemoFeed(spec, Path(spec.url).read_bytes()) for spec in load_feeds_file(registry)]


class _Handler(BaseHTTPRequestHandler):
    """GET and HEAD of the site's paths; 404 for anything else."""

    server: DemoFeedServer
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection gives its thread back after this long

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        resource = self.server.site.resources.get(quote(path, safe="/"))
        if resource is None:
            body = f"not found: {path}; the demo feeds file is {FEEDS_PATH}\n".encode()
            self._send(HTTPStatus.NOT_FOUND, {"Content-Type": "text/plain; charset=utf-8"})
            self._finish(body, send_body)
            return
        validators = {
            "ETag": resource.etag,
            "Last-Modified": format_datetime(resource.last_modified, usegmt=True),
            "Cache-Control": "no-cache",
        }
        headers = {name.lower(): value for name, value in self.headers.items()}
        if not_modified(resource, headers):
            self._send(HTTPStatus.NOT_MODIFIED, validators)
            self.end_headers()
            return
        self._send(HTTPStatus.OK, {"Content-Type": resource.content_type, **validators})
        self._finish(resource.body, send_body)

    def _send(self, status: HTTPStatus, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)

    def _finish(self, body: bytes, send_body: bool) -> None:
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # One logfmt line per request when logging at INFO (`storyline -v`); silent otherwise.
        log.info(
            "demo-feeds request", extra={"client": self.address_string(), "line": format % args}
        )


class DemoFeedServer(ThreadingHTTPServer):
    """A threaded HTTP server answering from a ``DemoSite``."""

    daemon_threads = True  # stopping never waits for a client's open connection

    def __init__(self, address: tuple[str, int]) -> None:
        # Read by the base class when it makes the socket: an IPv6 address needs its family.
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)
        self.site = DemoSite(timedelta(0), "", {})

    @property
    def url(self) -> str:
        """Where it listens, as an http URL."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response is not worth a traceback on stderr.
        log.info("demo-feeds connection failed", extra={"client": client_address}, exc_info=True)


def start_server(
    host: str,
    port: int,
    *,
    public_url: str | None = None,
    now: datetime | None = None,
    feeds: Sequence[DemoFeed] | None = None,
) -> DemoFeedServer:
    """Bind a server for the demo feeds re-dated for ``now``; call ``serve_forever`` next.

    ``public_url`` is how fetchers reach it (default: the address it listens on); port 0
    takes a free port. A port in use or an address that is not this machine's is one
    sentence (``ConfigError``).
    """
    feeds = list(feeds) if feeds is not None else load_demo_feeds()
    base = normalise_public_url(public_url) if public_url is not None else None
    shift = demo_shift(newest_date(feeds), now or datetime.now(UTC))
    try:
        server = DemoFeedServer((host, port))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot serve the demo feeds on {host}:{port} ({reason}); "
            "pick another port or address, or stop what listens there"
        ) from exc
    server.site = build_site(feeds, shift, base or server.url)
    return server


def serve_until_stopped(server: DemoFeedServer) -> None:
    """Serve until SIGINT or SIGTERM, then close the socket. Call from the main thread."""

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever() to return: it must not run on this thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()


def write_feeds_file(path: Path, text: str) -> None:
    """Write the feeds file; a path that cannot be written is one sentence."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot write feeds file {path} ({exc.strerror or type(exc).__name__}); "
            "check that its folder exists and is writable"
        ) from exc

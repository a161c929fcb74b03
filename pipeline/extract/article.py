"""The article body of a feed item's page, checked against what the feed says of the item.

Pure: bytes or text in, an ``Extraction`` out; the fetcher and the stage do the I/O.
trafilatura finds the main text of the page; what no general extractor knows, the feed
does: the item's title and its teaser (the lead of the body) must be on the page, the body
starts where the teaser starts, and the item's date must be near the page's.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pipeline.extract.body import LINK_SHARE, MIN_GAIN, WALL, Body, aside, find_body
from pipeline.extract.page import Page, coverage, read_page, squash

if TYPE_CHECKING:
    from lxml.html import HtmlElement

__all__ = ["Extraction", "Reason", "decode_html", "extract_article", "extract_page", "warm"]

Reason = Literal[
    "ok",
    "empty",
    "short",
    "wall",
    "error-page",
    "not-article",
    "title-missing",
    "teaser-missing",
    "date-mismatch",
]
"""Why an extraction has its text, or has none; the first that holds, in this order:
- ``empty``: the page is blank or no HTML;
- ``error-page``: its title or headline is an error's ("Page not found"), not the item's;
- ``wall``: a consent or pay wall: the item's words are missing and a fifth of the main
  text is a wall's, or the body is no longer than the teaser and a wall's words are on
  the page;
- ``title-missing``: the item's title is nowhere on the page;
- ``not-article``: the main text is mostly links' texts, or the item's title is on the
  page only as a link (an index of headlines);
- ``teaser-missing``: the item's teaser is nowhere on the page;
- ``empty``: the page has no main text;
- ``short``: the body adds fewer than ``MIN_GAIN`` characters to the teaser;
- ``date-mismatch``: the item has no teaser to look for, and the page's date is more than
  ``DATE_TOLERANCE`` from the item's;
- ``ok``: the text is the article's body."""


@dataclass(frozen=True)
class Extraction:
    """The body as plain text (paragraphs separated by "\\n"), or None and why not."""

    text: str | None
    reason: Reason
    aside: tuple[str, ...] = ()
    """The text's last paragraphs that lie outside the lead's kind of element: boilerplate
    when another article's text ends with them too (``extract.shared``)."""


_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([\w.:+-]+)", re.IGNORECASE)
META_SCAN_BYTES = 16 * 1024
"""The HTML standard scans the first 1,024 bytes for a ``<meta charset>``; pages with long
inline scripts in their head declare it later, and browsers still honour them."""
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The WHATWG Encoding standard reads these labels as their supersets, as browsers do (a page
# declaring latin-1 uses windows-1252's quotes), and a page cannot declare UTF-16 in its own
# ASCII bytes.
_ALIASES = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "utf-16": "utf-8",
    "utf-16-le": "utf-8",
    "utf-16-be": "utf-8",
}


def decode_html(body: bytes, content_type: str | None) -> str:
    """A page's bytes as text: its byte-order mark, else the charset of its Content-Type
    header, else its ``<meta>`` declaration, else UTF-8 or, failing that, windows-1252.
    Never raises: bytes the charset cannot read become U+FFFD."""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body.decode(bom_codec, errors="replace")
    header = _HEADER_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(body[:META_SCAN_BYTES])
    for label in (header.group(1) if header else None, meta.group(1).decode() if meta else None):
        codec = _text_codec(label)
        if codec is not None:
            return body.decode(codec, errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")


def _text_codec(label: str | None) -> str | None:
    """Python's name for a charset label, if it names a text encoding we may honour."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
        # bytes-to-bytes codecs ("hex", "zlib") and UTF-7 (a script-injection vector) are no
        # charsets a page may declare
        if name == "utf-7" or not isinstance(codecs.decode(b"", name), str):
            return None
    except (LookupError, TypeError, ValueError):
        return None
    return _ALIASES.get(name, name)


MIN_MATCH = 16
"""A title or teaser shorter than this (squashed) says too little to look for, and is not."""
TITLE_COVER = 0.6
"""Share of the title's grams that must be on the page: a site's suffix or an edited word
may differ; another story's headline shares a few words at most."""
TEASER_COVER = 0.6
"""Share of the teaser's grams that must be on the page."""
WALL_SHARE = 0.2
"""A page without the item whose main text is this much a wall's words is a wall (a cookie
banner caught in another article's main text is a line)."""
DATE_TOLERANCE = timedelta(days=3)
"""How far the page's date may be from the feed's: the page gives a day in its own time
zone, and a feed may date an entry by a later update."""
SLOW_AGAIN: frozenset[Reason] = frozenset({"short", "empty", "not-article"})
"""Verdicts on trafilatura's fast main text that its full run (its fallbacks compared) may
change: the fast run costs about two thirds as much and finds the same body on all but one
of the 91 benchmark pages."""
_ERROR = re.compile(
    r"\b(?:404|410|(?:page )?not found|no longer (?:available|exists)|does ?n[o']t exist|"
    r"error|oops|something went wrong|nicht gefunden|introuvable|no encontrada|non trovata)\b",
    re.IGNORECASE,
)
"""Words of an error page's title or headline."""


def warm() -> None:
    """Import what extracting needs (a worker process, before its first page)."""
    import htmldate  # noqa: F401
    import trafilatura  # noqa: F401


def extract_page(
    body: bytes,
    content_type: str | None,
    *,
    url: str | None,
    title: str,
    teaser: str,
    published: datetime | None,
) -> Extraction:
    """``extract_article`` of a page's bytes, decoded by its declared charset: plain values
    in and out, as a worker process is given them and returns them."""
    return extract_article(
        decode_html(body, content_type), url=url, title=title, teaser=teaser, published=published
    )


def extract_article(
    html: str, *, url: str | None, title: str, teaser: str, published: datetime | None
) -> Extraction:
    """The article body of a feed item's page, or None and why the feed's text should stay.

    ``title`` and ``teaser`` are the item's as its feed gives them (either may be empty, or
    too short to look for: then it is not checked); ``published`` is its date, or None when
    the feed gave none (a date the ingest estimated is none). ``url`` is the page's, for
    trafilatura and htmldate (a date in the path)."""
    from trafilatura.utils import load_html

    tree = load_html(html) if html.strip() else None
    if tree is None:
        return Extraction(None, "empty")
    page = read_page(tree)
    item = Item.of(title, teaser)
    if not item.in_heads(page) and _ERROR.search(page.heads):
        return Extraction(None, "error-page")
    teaser = item.teaser if item.teased(page) else ""
    body = find_body(tree, url, page, teaser)
    reason = _verdict(page, item, body)
    if reason in SLOW_AGAIN:
        # trafilatura's fast setting misses a few bodies its fallbacks would find
        body = find_body(tree, url, page, teaser, fast=False)
        reason = _verdict(page, item, body)
    # The date vouches only where the teaser could not: a page holding the item's title and
    # its teaser is its article, whatever date the site prints (a template's stale date, an
    # article fed again months later).
    if reason == "ok" and not item.teaser and published is not None:
        reason = "ok" if _near(tree, url, published) else "date-mismatch"
    if reason != "ok":
        return Extraction(None, reason)
    # only the body kept: the settings tried before it need not know their asides
    set_apart = aside(page, body.paragraphs) if body.anchored else 0
    return Extraction(
        "\n".join(body.paragraphs),
        reason,
        tuple(body.paragraphs[len(body.paragraphs) - set_apart :]) if set_apart else (),
    )


@dataclass(frozen=True)
class Item:
    """A feed item's title and teaser, squashed; one shorter than ``MIN_MATCH`` is empty."""

    title: str
    teaser: str

    @classmethod
    def of(cls, title: str, teaser: str) -> Item:
        title, teaser = squash(title), squash(teaser)
        return cls(
            title if len(title) >= MIN_MATCH else "", teaser if len(teaser) >= MIN_MATCH else ""
        )

    def in_heads(self, page: Page) -> bool:
        """Whether the page's title or headline is the item's."""
        return not self.title or coverage(self.title, squash(page.heads)) >= TITLE_COVER

    def titled(self, page: Page) -> bool:
        """Whether the item's title is on the page."""
        return not self.title or coverage(self.title, page.text) >= TITLE_COVER

    def teased(self, page: Page) -> bool:
        """Whether the item's teaser is on the page."""
        return not self.teaser or coverage(self.teaser, page.text) >= TEASER_COVER

    def gain(self, body: Body) -> int:
        """Squashed characters the body has beyond the teaser."""
        return len(squash(" ".join(body.paragraphs))) - (len(self.teaser) if body.anchored else 0)


def _verdict(page: Page, item: Item, body: Body) -> Reason:
    gain = item.gain(body)
    found = item.titled(page) and item.teased(page)
    if (body.wall_share >= WALL_SHARE and not found) or (
        gain < MIN_GAIN and WALL.search(page.plain)
    ):
        return "wall"
    if not item.titled(page):
        return "title-missing"
    if body.link_share > LINK_SHARE or (
        not item.in_heads(page) and coverage(item.title, "\n".join(page.links)) >= TITLE_COVER
    ):
        return "not-article"
    if not item.teased(page):
        return "teaser-missing"
    if not body.paragraphs:
        return "empty"
    return "short" if gain < MIN_GAIN else "ok"


def _near(tree: HtmlElement, url: str | None, published: datetime) -> bool:
    from htmldate import find_date

    found = find_date(tree, url=url, original_date=True, extensive_search=False)
    if found is None:
        return True
    return abs(date.fromisoformat(found) - published.date()) <= DATE_TOLERANCE

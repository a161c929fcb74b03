"""Parsing feed bytes into article records. Pure: no I/O, no database."""

from __future__ import annotations

import calendar
import hashlib
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import feedparser
from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid", "yclid", "_ga", "ref"}
)
FUTURE_TOLERANCE = timedelta(hours=1)
"""A date further ahead of the fetch time than this is a publisher's clock error."""

BENIGN_BOZO = frozenset({"CharacterEncodingOverride", "NonXMLContentType"})
"""feedparser flags a wrong declared charset or a text/html Content-Type; the XML itself is fine."""

MAX_URL_BYTES = 2000
"""A longer link is not kept as the article's URL (PostgreSQL cannot index it uniquely)."""

# Characters XML 1.0 forbids; feedparser's fallback parser lets some through, and PostgreSQL
# refuses NUL in text.
_ILLEGAL_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_INTERNAL_SUBSET = re.compile(rb"<!DOCTYPE[^>\[]*\[(.*?)\]\s*>", re.DOTALL | re.IGNORECASE)
_CHARACTER_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")
_WHITESPACE = re.compile(r"\s+")
# get_text(" ") separates inline tags too: "<em>allies</em>." would read "allies ."
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")


@dataclass(frozen=True)
class EntryRecord:
    """One feed entry, cleaned."""

    guid: str | None
    """The entry's own GUID / Atom id, as the feed gives it (``None`` if absent)."""
    url: str | None
    title: str
    summary: str
    published_at: datetime
    published_estimated: bool
    language: str | None
    content_hash: str


@dataclass(frozen=True)
class ParsedFeed:
    entries: list[EntryRecord]
    title: str | None
    problem: str | None
    """Why the XML was not well-formed, if feedparser had to recover (its ``bozo`` reason)."""


class ParseError(Exception):
    """The bytes are not a feed with entries."""


def canonical_url(url: str | None) -> str | None:
    """Drop fragments and tracking parameters; lower-case scheme and host."""
    if not url:
        return None
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return url or None
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_") and key.lower() not in TRACKING_PARAMS
    ]
    return urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", urlencode(query), "")
    )


def clean(text: str) -> str:
    """``text`` without the characters XML forbids (NUL, other C0 controls, lone surrogates)."""
    return _ILLEGAL_XML_CHARS.sub("", text)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    markup = clean(markup)
    if "<" not in markup and "&" not in markup:
        return _WHITESPACE.sub(" ", markup).strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        text = BeautifulSoup(markup, "html.parser").get_text(" ")
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", _WHITESPACE.sub(" ", text)).strip()


def content_hash(title: str, summary: str) -> str:
    return hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()


def parse_feed(
    content: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    base_url: str = "",
    fetched_at: datetime,
    default_language: str | None = None,
) -> ParsedFeed:
    """Parse RSS or Atom bytes (charset from the HTTP headers when given) into records."""
    response_headers = {k.lower(): v for k, v in (headers or {}).items()}
    if base_url and "content-location" not in response_headers:
        response_headers["content-location"] = base_url
    content, dropped = _drop_entity_declarations(content)
    content, replaced = _fix_character_references(content)
    try:
        parsed: Any = feedparser.parse(
            content,
            response_headers=response_headers,
            resolve_relative_uris=True,
            sanitize_html=True,
        )
    except (ValueError, OverflowError, UnicodeError) as exc:
        raise ParseError(f"not a readable feed ({type(exc).__name__}: {exc})") from exc
    problem = _bozo_reason(parsed)
    if replaced and parsed.entries:
        problem = f"{replaced} invalid character references replaced" + (
            f"; {problem}" if problem else ""
        )
    if dropped and parsed.entries:
        problem = "entity declarations ignored" + (f"; {problem}" if problem else "")
    if not parsed.entries:
        if problem:
            raise ParseError(f"not a readable feed ({problem})")
        if not parsed.get("version"):
            raise ParseError("not an RSS or Atom feed")
        return ParsedFeed([], parsed.feed.get("title"), None)
    language = _language(parsed.feed.get("language")) or default_language
    records = [
        record
        for entry in parsed.entries
        if (record := _record(entry, fetched_at, language)) is not None
    ]
    return ParsedFeed(records, parsed.feed.get("title"), problem)


def _drop_entity_declarations(content: bytes) -> tuple[bytes, bool]:
    """Remove a DOCTYPE whose internal subset declares entities.

    Feeds have no use for them; they are how entity-expansion bombs and external-entity
    fetches are built. expat stops a bomb eventually, but only after ~0.75 s of CPU per
    fetch; without the declarations the references stay unexpanded text.
    """
    head = content[:65536]
    match = _INTERNAL_SUBSET.search(head)
    if match is None or b"<!ENTITY" not in match.group(1).upper():
        return content, False
    return content[: match.start()] + content[match.end() :], True


def _fix_character_references(content: bytes) -> tuple[bytes, int]:
    """Replace ``&#...;`` references to characters XML forbids with U+FFFD.

    feedparser's fallback parser turns them into characters with ``chr`` and fails on
    surrogates or out-of-range numbers, losing the whole feed for one bad reference.
    """
    replaced = 0

    def fix(match: re.Match[bytes]) -> bytes:
        nonlocal replaced
        hexadecimal, decimal = match.groups()
        code = int(hexadecimal, 16) if hexadecimal else int(decimal)
        legal = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
        if legal or 0x10000 <= code <= 0x10FFFF:
            return match.group(0)
        replaced += 1
        return b"&#xFFFD;"

    if b"&#" not in content:
        return content, 0
    return _CHARACTER_REFERENCE.sub(fix, content), replaced


def _bozo_reason(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    if exc is not None and type(exc).__name__ in BENIGN_BOZO:
        return None
    return f"{type(exc).__name__}: {exc}" if exc is not None else "malformed feed"


def _language(raw: str | None) -> str | None:
    if not raw:
        return None
    return raw.strip().split("-")[0].split("_")[0].lower()[:16] or None


def _record(entry: Any, fetched_at: datetime, language: str | None) -> EntryRecord | None:
    title = html_to_text(entry.get("title", ""))
    summary = _summary(entry)
    if not title and not summary:
        return None
    if not title:
        title = summary[:120]
    url = canonical_url(clean(entry.get("link") or ""))
    if url is not None and len(url.encode()) > MAX_URL_BYTES:
        url = None
    published, estimated = _published(entry, fetched_at)
    return EntryRecord(
        guid=clean(entry.get("id") or "").strip() or None,
        url=url,
        title=title,
        summary=summary,
        published_at=published,
        published_estimated=estimated,
        language=language,
        content_hash=content_hash(title, summary),
    )


def _summary(entry: Any) -> str:
    candidates: list[str] = [entry.get("summary", "")]
    candidates += [block.get("value", "") for block in entry.get("content", [])]
    texts = [html_to_text(candidate) for candidate in candidates if candidate]
    return max(texts, key=len, default="")


def _published(entry: Any, fetched_at: datetime) -> tuple[datetime, bool]:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value: time.struct_time | None = entry.get(key)
        if value is None:
            continue
        moment = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
        if moment > fetched_at + FUTURE_TOLERANCE:
            return fetched_at, True
        return moment, False
    return fetched_at, True

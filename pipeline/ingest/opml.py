"""OPML, the subscription lists feed readers import and export, to and from feed specs.

Reading is listparser's (by feedparser's maintainer): it flattens folders and knows the
dialects readers write. A feed's registry name is made from its title (or host), so the
same list imported twice names its feeds the same way, and the registry upsert by name
makes a re-import change nothing. Writing is the standard library's ElementTree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

from pipeline.errors import ConfigError
from pipeline.ingest.feeds import FeedSpec, is_remote

NAME_CHARS = 60
"""Longest registry name made from a title; a suffix keeps the names unique."""


def load_opml_file(path: Path) -> list[FeedSpec]:
    """The feeds of an OPML file; one sentence if it cannot be read or holds none."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read OPML file {path} ({exc.strerror}); check the path") from exc
    specs = parse_opml(data)
    if not specs:
        raise ConfigError(
            f"OPML file {path} lists no feeds (no outline with an http(s) xmlUrl); "
            "export the subscriptions from your reader as OPML"
        )
    return specs


def parse_opml(data: bytes) -> list[FeedSpec]:
    """Feed specs for every outline with an http(s) ``xmlUrl``, in document order.

    A URL listed twice is kept once. The outlet is the feed's title; the name is the title
    made a slug (``BBC News - World`` -> ``bbc-news-world``), else the URL's host.
    """
    import listparser

    result = listparser.parse(data)
    specs: list[FeedSpec] = []
    seen_urls: set[str] = set()
    names: set[str] = set()
    for feed in result.feeds:
        url = str(feed.get("url") or "").strip()
        if not is_remote(url) or url in seen_urls:
            continue
        seen_urls.add(url)
        title = " ".join(str(feed.get("title") or "").split())
        name = _unique(_slug(title) or _slug(urlsplit(url).hostname or "") or "feed", names)
        names.add(name)
        specs.append(FeedSpec(name=name, url=url, outlet=title or None))
    return specs


def render_opml(specs: Sequence[FeedSpec], title: str = "Storyline feeds") -> tuple[str, list[str]]:
    """An OPML 2.0 document listing ``specs``, each outline titled by its outlet, else its
    name; and the names of the feeds left out of it: those read from a local path, which
    means nothing to a reader elsewhere."""
    opml = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(opml, "head")
    ElementTree.SubElement(head, "title").text = title
    body = ElementTree.SubElement(opml, "body")
    left_out = []
    for spec in specs:
        if not is_remote(spec.url):
            left_out.append(spec.name)
            continue
        label = spec.outlet or spec.name
        attributes = {"type": "rss", "text": label, "title": label, "xmlUrl": spec.url}
        if spec.language:
            attributes["language"] = spec.language
        ElementTree.SubElement(body, "outline", attributes)
    ElementTree.indent(opml)
    document = '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(opml, "unicode")
    return document, left_out


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:NAME_CHARS].strip("-")


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    return f"{name}-{number}"

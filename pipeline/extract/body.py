"""The body of an article page: trafilatura's main text, cut to where the article is.

trafilatura (its precise setting first) gives the main text as paragraphs. What comes
before the feed's teaser is a headline, a byline, a standfirst: dropped. What follows the
article inside the main text (related headlines, a newsletter box, a follow-us line, a
copyright line) is cut by general rules, none naming a site: paragraphs that are a link's
text or point elsewhere go; the body is what lies in the page element that encloses most
of it; a run of short paragraphs at its end is cut from its first boilerplate line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pipeline.extract.page import Page, find_start, probes, squash

if TYPE_CHECKING:
    from lxml.html import HtmlElement

_HIDDEN = frozenset({"script", "style", "noscript", "template"})
Mode = Literal["precision", "balanced", "recall"]
MODES: tuple[Mode, ...] = ("precision", "balanced", "recall")
"""trafilatura's settings, tried in turn until the main text holds the teaser and is no list
of links: the precise one lets in the least boilerplate (F1 0.973 against 0.962 for its
defaults on the benchmark pages) but misses a few bodies the others find."""
LINK_SHARE = 0.5
"""Main text more than half of whose characters are links' texts is a list of headlines."""
LINK_COVER = 0.8
"""A paragraph this much of which is one link's text ("Related: <headline>") points away."""
ENCLOSING = 0.8
"""The body is what lies in the smallest page element around it that holds this share of
its characters: what follows an article outside the article's element goes."""
TAIL_SHARE = 0.4
"""At most this share of a body's characters, at its end, may be cut as boilerplate."""
MIN_GAIN = 30
"""Fewer squashed characters than this beyond the teaser and the page adds nothing to the
feed's text: a stub, or an article that is its lead alone."""
SHORT = 300
"""Paragraphs shorter than this (characters) at the end of a body may be boilerplate."""

_POINTER = re.compile(
    r"(?:related(?: \w+)?|see (?:more|also)|read (?:more|also|next)|also read|more|"
    r"don'?t miss|watch|listen|most (?:read|popular|viewed)(?: in [\w ]{1,30})?|advertisement|"
    r"story continues below.*)\W*(?::.{0,200})?$",
    re.IGNORECASE,
)
"""A line that points elsewhere ("Related: <headline>", "SEE MORE: …", "Advertisement");
dropped wherever it is, as are short lines of a wall (``WALL``)."""
WALL = re.compile(
    r"accept (?:all|cookies)|agree and continue|we use cookies|cookie (?:settings|preferences)|"
    r"we and our (?:\d+ )?partners|personali[sz]ed (?:ads|advertising|content)|"
    r"manage (?:cookie )?preferences|privacy (?:settings|choices)|we value your privacy|"
    r"subscribe to (?:continue|read)|subscribers? only|for subscribers|already a subscriber|"
    r"(?:log|sign) in to (?:continue|read)|to continue reading|create a free account|"
    r"register to continue|premium (?:content|article)|reached (?:your|the) (?:limit|maximum)|"
    r"free articles? (?:left|remaining)"
)
"""Words of a consent wall or a paywall (lower case): a short line with them is no article
text, and a page with them and no body is a wall."""
_TAIL = re.compile(
    r"\bnewsletters?\b|\bsubscrib(?:e|ing)\b|\bsign(?:ing)? up\b|"
    r"\bfollow (?:us|him|her|me|them)\b|\ball rights reserved\b|©|\bcopyright\b|"
    r"\bclick here\b|\blet us know\b|tell us what you think|"
    r"\b(?:leave|post|add) a (?:comment|reply)\b|\bcomments are closed\b|"
    r"^\W*(?:\d+ )?comments?\W*$|"
    r"\b(?:have|got) a (?:news )?tip\b|\bcontact (?:us|the author)\b|"
    r"^(?:related|recommended|more from|read more|read next|see also|most (?:read|popular)|"
    r"you (?:may|might) also like|share (?:this|on)|about (?:the author|us)\b)|"
    r"^(?:filed under|tags?|tagged|topics?|categor(?:y|ies)|sources?|credits?|photo|image)\s*:|"
    r"^(?:updated|published|posted|last (?:updated|modified))\b.{0,60}$",
    re.IGNORECASE,
)
"""Lines that follow an article rather than belong to it: a newsletter or social-media call,
a copyright line, a comment count, tags, a source credit, a time stamp."""


@dataclass(frozen=True)
class Body:
    """An article body as paragraphs, and what the checks need to know of how it was found."""

    paragraphs: list[str]
    anchored: bool
    """Whether it starts where the teaser starts."""
    found: int
    """Characters of the main text from the start on, before it was cleaned."""
    link_share: float
    """Share of them that were links' texts."""
    wall_share: float
    """Share of them in lines of a wall (``WALL``)."""


def find_body(
    tree: HtmlElement, url: str | None, page: Page, teaser: str, *, fast: bool = True
) -> Body:
    """The body of a page whose teaser (squashed) is ``teaser``, or of the page alone if it
    is empty: the first of trafilatura's ``MODES`` whose main text holds the teaser and is no
    list of links, else the first that has a main text at all."""
    tried = []
    for mode in MODES:
        paragraphs = main_text(tree, url, mode, fast=fast)
        start = find_start(teaser, paragraphs) if teaser else None
        body = clean(page, paragraphs[start or 0 :], anchored=start is not None)
        if _usable(body, teaser):
            return body
        tried.append((paragraphs, body))
    found = next(((paragraphs, body) for paragraphs, body in tried if body.found), tried[0])
    if teaser and (near := around(page, teaser)):
        # a lead set apart from the rest (a standfirst in a box of its own) heads the main
        # text that follows it; a lead whose main text is elsewhere is the body alone
        body = clean(
            page, near + found[0] if _follows(page, near, found[0]) else near, anchored=True
        )
        if (
            _usable(body, teaser)
            and len(squash("".join(body.paragraphs))) - len(teaser) >= MIN_GAIN
        ):
            return body
    return found[1]


def _usable(body: Body, teaser: str) -> bool:
    return bool(body.paragraphs) and (body.anchored or not teaser) and body.link_share <= LINK_SHARE


BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "h2", "h3", "h4", "h5", "h6", "header", "li", "main", "ol", "p",
        "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
"""Elements that hold a paragraph of their own (<h1> is the headline, never the body)."""


def around(page: Page, teaser: str) -> list[str]:
    """The paragraphs of the element around the teaser's, from the teaser on: the body when
    trafilatura's main text is another text of the page (a second, longer article, a
    sidebar's) and the teaser is in none of its settings' main texts."""
    at = next((found for probe in probes(teaser) if (found := page.flat.find(probe)) >= 0), -1)
    container = _block_parent(page, at)
    if container is None:
        return []
    paragraphs = _paragraphs(container)
    start = find_start(teaser, paragraphs)
    return paragraphs[start:] if start is not None else []


ADJACENT = 200
"""Squashed characters of the page that may lie between a lead and the main text it heads."""


def _follows(page: Page, lead: list[str], after: list[str]) -> bool:
    """Whether ``lead`` is short (a standfirst, not an article) and the paragraphs ``after``
    start on the page right where it ends."""
    if not lead or not after or sum(len(paragraph) for paragraph in lead) >= SHORT:
        return False
    last, first = squash(lead[-1]), squash(after[0])
    end = page.flat.find(last[:48]) + len(last)
    return 0 <= page.flat.find(first[:48], end - len(last)) - end <= ADJACENT


def _paragraphs(element: HtmlElement) -> list[str]:
    """The texts of the innermost blocks in ``element``, in document order."""
    found: list[str] = []
    for child in element:
        if isinstance(child.tag, str) and child.tag not in _HIDDEN:
            if any(
                isinstance(inner.tag, str) and inner.tag in BLOCKS
                for inner in child.iterdescendants()
            ):
                found.extend(_paragraphs(child))
            elif child.tag in BLOCKS and (text := " ".join(child.text_content().split())):
                found.append(text)
    return found


def main_text(tree: HtmlElement, url: str | None, mode: Mode, *, fast: bool = True) -> list[str]:
    """trafilatura's main text of a parsed page, as paragraphs (comments left out); ``fast``
    skips its comparison with its readability and jusText fallbacks (a third of its time)."""
    import trafilatura

    text = trafilatura.extract(
        tree,
        url=url,
        favor_precision=mode == "precision",
        favor_recall=mode == "recall",
        include_comments=False,
        deduplicate=False,
        fast=fast,
    )
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def clean(page: Page, raw: list[str], *, anchored: bool) -> Body:
    """``raw`` paragraphs without links' texts, pointers, what lies outside the body's element,
    and boilerplate at the end."""
    links = [_is_link(paragraph, page.links) for paragraph in raw]
    kept = [p for p, link in zip(raw, links, strict=True) if not (link or _pointer(p))]
    found = sum(len(paragraph) for paragraph in raw)
    paragraphs = trim_tail(enclosed(page, kept, anchored=anchored))
    return Body(
        paragraphs=paragraphs,
        anchored=anchored,
        found=found,
        link_share=sum(len(p) for p, link in zip(raw, links, strict=True) if link) / max(found, 1),
        wall_share=sum(len(p) for p in raw if WALL.search(p.lower())) / max(found, 1),
    )


def _pointer(paragraph: str) -> bool:
    return bool(
        _POINTER.match(paragraph) or (len(paragraph) < SHORT and WALL.search(paragraph.lower()))
    )


def _is_link(paragraph: str, links: tuple[str, ...]) -> bool:
    key = squash(paragraph)
    for link in links:  # longest first
        if len(link) < LINK_COVER * len(key):
            return False
        if link in key:
            return True
    return False


def enclosed(page: Page, paragraphs: list[str], *, anchored: bool) -> list[str]:
    """The ``paragraphs`` inside the smallest element that holds ``ENCLOSING`` of their
    characters and the first of them, if they start at the teaser, else the longest (a
    headline or a byline before an unanchored body is no seed). All of them if the seed is
    not found on the page."""
    keys = [squash(paragraph) for paragraph in paragraphs]
    seed = 0 if anchored or not keys else max(range(len(keys)), key=lambda i: len(keys[i]))
    at = page.flat.find(keys[seed][:48]) if keys and keys[seed] else -1
    element = page.element_at(at) if at >= 0 else None
    if element is None:
        return paragraphs
    total = sum(len(key) for key in keys)
    for ancestor in [element, *element.iterancestors()]:
        start, end = page.spans[ancestor]
        inside = [page.flat.find(key, start, end) >= 0 for key in keys]
        if (
            sum(len(key) for key, kept in zip(keys, inside, strict=True) if kept)
            >= ENCLOSING * total
        ):
            return [p for p, kept in zip(paragraphs, inside, strict=True) if kept]
    return paragraphs


def _block_parent(page: Page, at: int) -> HtmlElement | None:
    """The element around the block (``BLOCKS``) that holds ``page.flat[at]``, if any."""
    element = page.element_at(at) if at >= 0 else None
    while element is not None and element.tag not in BLOCKS:
        element = element.getparent()
    return element.getparent() if element is not None else None


def _container(page: Page, key: str) -> HtmlElement | None:
    """The element around the block that holds the squashed paragraph ``key``."""
    return _block_parent(page, page.flat.find(key[:48]) if key else -1)


def _kind(element: HtmlElement | None) -> tuple[str, str] | None:
    return None if element is None else (element.tag, element.get("class") or "")


def aside(page: Page, paragraphs: list[str]) -> int:
    """How many of the last ``paragraphs`` lie after the last one set in an element like
    the lead's (same tag and class): an author's note, a publisher's "about us", a
    promotion in a box of its own; or a body split across boxes of one kind (not aside)."""
    kinds = [_kind(_container(page, squash(paragraph))) for paragraph in paragraphs]
    if not kinds or kinds[0] is None:
        return 0
    last = max(index for index, kind in enumerate(kinds) if kind == kinds[0])
    return len(paragraphs) - last - 1


def trim_tail(paragraphs: list[str]) -> list[str]:
    """``paragraphs`` up to the first boilerplate line (``_TAIL``) among the short ones
    (``SHORT``) that end them, within their last ``TAIL_SHARE``; the first is always kept."""
    total = sum(len(paragraph) for paragraph in paragraphs)
    cut, after = len(paragraphs), 0
    for index in range(len(paragraphs) - 1, 0, -1):
        after += len(paragraphs[index])
        if after > TAIL_SHARE * total or len(paragraphs[index]) >= SHORT:
            break
        if _TAIL.search(paragraphs[index]):
            cut = index
    return paragraphs[:cut]

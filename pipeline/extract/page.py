"""What a page says besides its main text, and fuzzy matching of a feed's words against it.

Text is compared in its squashed form (lower case, word characters only): two renderings
of one sentence (a feed's and a page's, with other spacing, quotes, dashes, a dropped
space after a dateline, a last word cut off with "…") squash to the same string, in any
script. One walk over the parsed page gives its visible text squashed, where each element's
text lies in it, and its raw text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.html import HtmlElement

_WORDS = re.compile(r"\w+")
GRAM = 8
"""Squashed text is compared as character 8-grams: long enough to be specific, short
enough that an edited word or a cut one costs only the grams that hold it."""
PROBE = 24
"""Characters of a squashed teaser looked for to find where it starts."""


def squash(text: str) -> str:
    """Lower-case word characters only: what two renderings of one sentence share."""
    return "".join(_WORDS.findall(text.casefold()))


def coverage(needle: str, haystack: str) -> float:
    """Share of the squashed ``needle``'s grams that occur in the squashed ``haystack``."""
    if len(needle) <= GRAM:
        return 1.0 if needle in haystack else 0.0
    grams = {needle[i : i + GRAM] for i in range(0, len(needle) - GRAM + 1, 2)}
    return sum(gram in haystack for gram in grams) / len(grams)


def probes(teaser: str) -> list[str]:
    """Pieces of a squashed teaser that mark where it starts: its first ``PROBE`` characters,
    then those from 12, 24, … 72 on (a feed may word the dateline before the lead its own way)."""
    return [
        teaser[at : at + PROBE] for at in range(0, max(0, min(len(teaser) - PROBE, 72)) + 1, 12)
    ]


def find_start(teaser: str, paragraphs: list[str]) -> int | None:
    """Index of the paragraph where the squashed ``teaser`` begins, if it does (the first of
    its ``probes`` found marks it)."""
    squashed = [squash(p) for p in paragraphs]
    joined = "".join(squashed)
    at = next((found for probe in probes(teaser) if (found := joined.find(probe)) >= 0), -1)
    end = 0
    for index, part in enumerate(squashed):
        end += len(part)
        if 0 <= at < end:
            return index
    return None


@dataclass(frozen=True)
class Page:
    """What the checks read of a page besides its main text."""

    heads: str
    """Its <title>, og:title, twitter:title and <h1>s, as written (one per line)."""
    text: str
    """Squashed: all the page says of itself, heads, meta descriptions and visible text."""
    flat: str
    """The squashed visible text of its body, in document order."""
    plain: str
    """The visible text of its body, lower case, whitespace collapsed."""
    links: tuple[str, ...]
    """Squashed texts of its links, longest first."""
    spans: dict[HtmlElement, tuple[int, int]] = field(repr=False)
    """Where each element's text lies in ``flat``."""
    pieces: tuple[list[int], list[HtmlElement]] = field(repr=False, default=([], []))
    """Where each run of text starts in ``flat``, and the element whose own text it is (an
    element's text, or a child's tail)."""

    def element_at(self, offset: int) -> HtmlElement | None:
        """The innermost element whose text holds ``flat[offset]``."""
        starts, owners = self.pieces
        index = bisect_right(starts, offset) - 1
        return owners[index] if index >= 0 and 0 <= offset < len(self.flat) else None


_HIDDEN = frozenset({"head", "script", "style", "noscript", "template", "title"})


def read_page(tree: HtmlElement) -> Page:
    """The heads, visible text and link texts of a parsed page."""
    heads = [
        *_texts(tree.xpath("//title | //h1")),
        *tree.xpath("//meta[@property='og:title' or @name='twitter:title']/@content"),
    ]
    described = tree.xpath("//meta[@name='description' or @property='og:description']/@content")
    walk = _Walk()
    walk.element(tree)
    flat = "".join(walk.squashed)
    links = {squash(text) for text in _texts(tree.xpath("//a"))} - {""}
    return Page(
        heads="\n".join(heads),
        text=squash(" ".join([*heads, *described])) + flat,
        flat=flat,
        plain=" ".join(" ".join(walk.raw).split()).lower(),
        links=tuple(sorted(links, key=len, reverse=True)),
        spans=walk.spans,
        pieces=(walk.starts, walk.owners),
    )


class _Walk:
    """One pass over a tree: its visible text, and where each element's text lies in it."""

    def __init__(self) -> None:
        self.squashed: list[str] = []
        self.length = 0
        self.spans: dict[HtmlElement, tuple[int, int]] = {}
        self.raw: list[str] = []
        self.starts: list[int] = []
        self.owners: list[HtmlElement] = []

    def element(self, element: HtmlElement) -> None:
        start = self.length
        # comments and processing instructions have no string tag; their text is not shown
        if isinstance(element.tag, str) and element.tag not in _HIDDEN:
            self.text(element.text, element)
            for child in element:
                self.element(child)
                self.text(child.tail, element)
        self.spans[element] = (start, self.length)

    def text(self, text: str | None, owner: HtmlElement) -> None:
        squashed = squash(text) if text else ""
        if squashed:
            self.starts.append(self.length)
            self.owners.append(owner)
            self.raw.append(text or "")
            self.squashed.append(squashed)
            self.length += len(squashed)


def _texts(elements: Iterable[HtmlElement]) -> list[str]:
    return [" ".join(element.text_content().split()) for element in elements]

"""Mentions of people, places and organisations in an article. Pure: spans in, mentions out.

spaCy's recogniser labels spans with OntoNotes types; three kinds are kept (``KINDS``) and the
rest (nationalities, dates, money, works of art...) dropped. What the model takes for a name is
cleaned (``clean``): the leading "the", a possessive, quotes and stray punctuation go; what is
left must look like a name (letters, not a lone initial, not a shouted word of a headline) and
must not be a site's own name (the outlet, its feed, or the site suffix of a title: the
recogniser calls "NBC12" a person and "WWBT" an organisation).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from pipeline.entities.names import fold


class Kind(StrEnum):
    """What an entity is."""

    PERSON = "person"
    ORGANISATION = "organisation"
    PLACE = "place"


KINDS: dict[str, Kind] = {
    "PERSON": Kind.PERSON,
    "ORG": Kind.ORGANISATION,
    "GPE": Kind.PLACE,
    "LOC": Kind.PLACE,
    "FAC": Kind.PLACE,
}
"""spaCy's labels kept, and their kind: a country, city or state (GPE), a region, sea or
mountain (LOC) and a building, airport or bridge (FAC) are all places to an editor."""


@dataclass(frozen=True)
class Mention:
    """One span of an article that names an entity, as cleaned."""

    kind: Kind
    name: str
    in_title: bool


_LEADING = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_POSSESSIVE = re.compile("(?:['\u2019]s|(?<=s)['\u2019])$", re.IGNORECASE)
_EDGE = re.compile(r"^[^\w]+|[^\w.]+$|(?<!\b\w)\.$")
"""Punctuation at either end (a trailing full stop is kept after an initial: "Jr.", "U.S.")."""
_SPACE = re.compile(r"\s+")
_LABEL = re.compile(
    r"^(?:photo|video|watch|read|source|credit|update|updated|breaking)s?:\s*", re.I
)
"""A caption's or a page's label before a name ("Photo: Detroit Free Press")."""
_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)+")
_LETTER = re.compile(r"[^\W\d_]")
_SHOUTED = 4
"""An all-capital word longer than this is a headline's shouting ("BREAKING", "WATCH",
"UPDATE") or a name set in capitals, not an acronym ("FBI", "NATO", "ISIS")."""
_TITLE_SEPARATORS = re.compile("\\s+[-|\u2013\u2014:\u00bb]\\s+")
"""Between a headline and a site's suffix: "Jonah Lomu dies - BBC News"."""


def clean(text: str) -> str | None:
    """``text`` as a name, or ``None`` when it is no name.

    "the White House's" → "White House"; "  Paris " → "Paris"; "J" → None (a lone initial);
    "BREAKING NEWS" → None; "2015" → None.
    """
    name = _SPACE.sub(" ", text).strip()
    for _ in range(3):  # a quoted "the Kremlin's": quotes, then the article, then the possessive
        before = name
        name = _EDGE.sub("", name).strip()
        name = _LEADING.sub("", _LABEL.sub("", name))
        name = _POSSESSIVE.sub("", name).strip()
        if name == before:
            break
    letters = _LETTER.findall(name)
    if len(letters) < 2:
        return None
    words = name.split(" ")
    if not any(word[:1].isupper() or word[:1].isdigit() for word in words):
        return None  # "defence ministry": a description, not a name
    if any(word.isupper() and len(_LETTER.findall(word)) > _SHOUTED for word in words):
        return None
    return name


def site_names(outlets: Iterable[str]) -> frozenset[str]:
    """The folded names a site goes by, from its outlet and feed names: each whole name and
    its parts between spaced separators ("NBC12 - WWBT" gives "nbc12 wwbt", "nbc12", "wwbt";
    a feed's "wwbt-news" gives "wwbt news"; a host "www.local10.com" gives "local10 com" and
    "local10"), without a leading "the"."""
    keys: set[str] = set()
    for outlet in outlets:
        parts = [outlet, *_TITLE_SEPARATORS.split(outlet)]
        if _HOST.fullmatch(outlet.strip()):  # "www.local10.com" is "local10.com", "local10"
            host = re.sub(r"^www\d*\.", "", outlet.strip().lower())
            parts += [host, host.split(".")[0]]
        for part in parts:
            key = fold(_LEADING.sub("", part.strip()))
            if len(key) >= 2:
                keys.add(key)
    return frozenset(keys)


def headline(title: str, sites: Collection[str]) -> str:
    """``title`` without a site's suffix: the trailing parts after a separator that name one of
    ``sites`` ("Raid in Saint-Denis - NBC12 - WWBT - Richmond, VA News" → "Raid in
    Saint-Denis" when "nbc12" is a site name)."""
    parts = _TITLE_SEPARATORS.split(title)
    for index in range(1, len(parts)):
        tail = fold(" ".join(parts[index:]))
        if any(_contains_words(tail, site) for site in sites):
            return " - ".join(parts[:index])
    return title


def _contains_words(text: str, words: str) -> bool:
    return f" {words} " in f" {text} "


def mentions(spans: Iterable[tuple[str, str, bool]], sites: Collection[str] = ()) -> list[Mention]:
    """The kept mentions among ``spans`` (text, spaCy label, whether in the title), cleaned,
    in order; a span naming one of ``sites`` (folded site names) is dropped."""
    out: list[Mention] = []
    for text, label, in_title in spans:
        kind = KINDS.get(label)
        if kind is None:
            continue
        name = clean(text)
        if name is None or fold(name) in sites:
            continue
        out.append(Mention(kind, name, in_title))
    return out

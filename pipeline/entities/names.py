"""One entity per name, however an article spells it. Pure.

A name's key is its accent- and case-folded form ("François Hollande" and "Francois
HOLLANDE" share "francois hollande"), with a person's title left out ("President Hollande"
is "hollande"). Within an article a short name that ends a longer person's name is that person
("Hollande" after "François Hollande"); across articles a lone surname is the one known person
whose name ends with it, when only one does (``link``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.entities.mentions import Kind, Mention

_NON_WORD = re.compile(r"[^\w]+")
TITLES = frozenset(
    {
        "president", "vice", "prime", "minister", "premier", "chancellor", "king", "queen",
        "prince", "princess", "pope", "sir", "dame", "lord", "lady", "mr", "mrs", "ms", "miss",
        "dr", "prof", "professor", "sen", "senator", "rep", "representative", "gov",
        "governor", "mayor", "gen", "general", "col", "colonel", "capt", "captain", "lt",
        "sgt", "sergeant", "officer", "deputy", "detective", "judge", "justice", "rev",
        "reverend", "father", "chief", "secretary", "state", "foreign", "interior", "defence",
        "defense", "former", "late", "sheriff", "coach",
    }
)  # fmt: skip
"""English titles and offices before a person's name, left out of the key and the name
("Prime Minister David Cameron" is "David Cameron")."""


def fold(text: str) -> str:
    """Accents, case and punctuation folded away: "Saint-Denis" → "saint denis",
    "François" → "francois", "U.S." → "u s"."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_NON_WORD.sub(" ", bare.casefold()).replace("_", " ").split())


def without_title(name: str) -> str:
    """A person's ``name`` without the titles before it; the name itself if nothing is left
    ("President Hollande" → "Hollande"; "President" → "President")."""
    words = name.split(" ")
    start = 0
    while start < len(words) - 1 and fold(words[start]).replace(" ", "") in TITLES:
        start += 1
    return " ".join(words[start:])


def accents(name: str) -> int:
    """How many of ``name``'s letters carry a mark: the better-spelt of two names has more."""
    return sum(1 for char in name if ord(char) > 127 and char.isalpha())


def better_name(known: str, seen: str) -> str:
    """The name to show for an entity known as ``known`` and now seen as ``seen`` (same key):
    the accented spelling wins ("Francois Hollande" gives way to "François Hollande")."""
    return seen if accents(seen) > accents(known) else known


@dataclass(frozen=True)
class Found:
    """An entity an article names: its kind, key and name, how often and whether in the
    title."""

    kind: Kind
    key: str
    name: str
    mentions: int
    in_title: bool


def resolve(mentions: Sequence[Mention]) -> list[Found]:
    """The entities an article names, from its ``mentions``, by first mention.

    Mentions with one key are one entity, of the kind most of them were given (the
    recogniser may call "Hollande" a person in one sentence and an organisation in the next;
    a tie goes to the kind named first), and a longer "organisation" that ends with a
    person's name is that person. A mention of any kind whose words end exactly one longer
    person's name of the article is that person: the recogniser calls a lone surname a
    place or an organisation now and then ("Abdeslam, 26, rented a car" is a place to it),
    far more often than an article names both "George Washington" and "Washington".
    """
    from pipeline.entities.mentions import Kind

    groups: dict[str, list[Mention]] = defaultdict(list)
    for mention in mentions:
        name = without_title(mention.name) if mention.kind == Kind.PERSON else mention.name
        key = fold(name)
        if key and not (mention.kind == Kind.PERSON and key.replace(" ", "") in TITLES):
            groups[key].append(
                mention
                if name == mention.name
                else type(mention)(mention.kind, name, mention.in_title)
            )
    kinds = {key: _vote(group) for key, group in groups.items()}
    for key, kind in list(kinds.items()):
        # "François Hollande" taken for an organisation where "Hollande" is a person
        if kind == Kind.ORGANISATION and " " in key and _ends_a_person(key, kinds):
            kinds[key] = Kind.PERSON
    persons = [key for key, kind in kinds.items() if kind == Kind.PERSON and " " in key]
    target: dict[str, str] = {}
    for key in kinds:
        longer = [other for other in persons if other != key and other.endswith(" " + key)]
        if len(longer) == 1:
            target[key] = longer[0]
    merged: dict[str, list[Mention]] = defaultdict(list)
    for key, group in groups.items():
        merged[target.get(key, key)].extend(group)
    out: list[Found] = []
    for key, group in merged.items():
        own = groups[key]
        out.append(
            Found(
                kind=kinds[key],
                key=key,
                name=_spelling(own),
                mentions=len(group),
                in_title=any(mention.in_title for mention in group),
            )
        )
    return out


def _ends_a_person(key: str, kinds: Mapping[str, Kind]) -> bool:
    """Whether the last word(s) of ``key`` are a person's key of the same article."""
    from pipeline.entities.mentions import Kind

    words = key.split(" ")
    return any(kinds.get(" ".join(words[start:])) == Kind.PERSON for start in range(1, len(words)))


def _vote(group: Sequence[Mention]) -> Kind:
    counts = Counter(mention.kind for mention in group)
    best = max(counts.values())
    return next(mention.kind for mention in group if counts[mention.kind] == best)


def _spelling(group: Sequence[Mention]) -> str:
    """The group's most accented spelling, then its most frequent, then its first."""
    counts = Counter(mention.name for mention in group)
    return max(counts, key=lambda name: (accents(name), counts[name]))


def surname_index(keys: Iterable[str]) -> dict[str, list[str]]:
    """Known persons' keys of two or more words, by their last word."""
    index: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        if " " in key:
            index[key.rsplit(" ", 1)[1]].append(key)
    return index


def link(key: str, known: Mapping[str, Sequence[str]]) -> str:
    """The key a person's ``key`` stands for: a lone word that ends exactly one known full
    name (``known``: ``surname_index`` of the persons' keys) is that person; any other key
    stands for itself."""
    if " " in key:
        return key
    candidates = set(known.get(key, ()))
    return candidates.pop() if len(candidates) == 1 else key

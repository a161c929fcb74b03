"""One entity per name: folding, titles, short names within an article, surnames across."""

from __future__ import annotations

import pytest

from pipeline.entities.mentions import Kind, Mention
from pipeline.entities.names import (
    Found,
    better_name,
    fold,
    link,
    resolve,
    surname_index,
    without_title,
)

P, ORG, L = Kind.PERSON, Kind.ORGANISATION, Kind.PLACE


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("François Hollande", "francois hollande"),
        ("FRANCOIS HOLLANDE", "francois hollande"),
        ("Saint-Denis", "saint denis"),
        ("Beyoncé", "beyonce"),
        ("U.S.", "u s"),
        ("O'Neill", "o neill"),
        ("Σεισμός", "σεισμοσ"),
    ],
    ids=[
        "accent",
        "capitals",
        "hyphen",
        "accent-at-end",
        "stops",
        "apostrophe",
        "greek-final-sigma-folded",
    ],
)
def test_fold(name: str, key: str) -> None:
    assert fold(name) == key


@pytest.mark.parametrize(
    ("name", "bare"),
    [
        ("President Hollande", "Hollande"),
        ("Prime Minister David Cameron", "David Cameron"),
        ("Mr. Putin", "Putin"),
        ("President", "President"),
        ("Salah Abdeslam", "Salah Abdeslam"),
    ],
    ids=["office", "two-word-office", "honorific-with-stop", "title-alone", "no-title"],
)
def test_without_title(name: str, bare: str) -> None:
    assert without_title(name) == bare


def test_better_name_prefers_the_accented_spelling() -> None:
    assert better_name("Francois Hollande", "François Hollande") == "François Hollande"
    assert better_name("François Hollande", "Francois Hollande") == "François Hollande"
    assert better_name("Paris", "PARIS") == "Paris"


def found(items: list[Found]) -> list[tuple[Kind, str, str, int, bool]]:
    return [(f.kind, f.key, f.name, f.mentions, f.in_title) for f in items]


@pytest.mark.parametrize(
    ("mentions", "expected"),
    [
        (
            [Mention(P, "Hollande", True), Mention(P, "François Hollande", False),
             Mention(P, "President Hollande", False)],
            [(P, "francois hollande", "François Hollande", 3, True)],
        ),
        (
            [Mention(P, "Francois Hollande", False), Mention(P, "François Hollande", False)],
            [(P, "francois hollande", "François Hollande", 2, False)],
        ),
        (
            [Mention(ORG, "François Hollande", False), Mention(P, "Hollande", False)],
            [(P, "francois hollande", "François Hollande", 2, False)],
        ),
        (
            [Mention(P, "Hollande", False), Mention(ORG, "Hollande", False),
             Mention(ORG, "Hollande", False)],
            [(ORG, "hollande", "Hollande", 3, False)],
        ),
        (
            [Mention(P, "Salah Abdeslam", False), Mention(P, "Brahim Abdeslam", False),
             Mention(P, "Abdeslam", False)],
            [(P, "salah abdeslam", "Salah Abdeslam", 1, False),
             (P, "brahim abdeslam", "Brahim Abdeslam", 1, False),
             (P, "abdeslam", "Abdeslam", 1, False)],
        ),
        (
            [Mention(P, "George Washington", False), Mention(L, "Washington", False)],
            [(P, "george washington", "George Washington", 2, False)],
        ),
        (
            [Mention(P, "Martin Luther King", False), Mention(P, "Luther King", False)],
            [(P, "martin luther king", "Martin Luther King", 2, False)],
        ),
        (
            [Mention(P, "Sgt", False), Mention(P, "Todd Johnson", False)],
            [(P, "todd johnson", "Todd Johnson", 1, False)],
        ),
        ([], []),
    ],
    ids=[
        "surname-and-title-to-full-name",
        "accented-spelling-wins",
        "organisation-ending-in-a-person-is-that-person",
        "kind-by-majority",
        "two-brothers-leave-the-surname-alone",
        "a-surname-taken-for-a-place-joins-the-person",
        "two-word-short-name",
        "a-title-alone-is-nobody",
        "empty",
    ],
)  # fmt: skip
def test_resolve_within_an_article(
    mentions: list[Mention], expected: list[tuple[Kind, str, str, int, bool]]
) -> None:
    assert found(resolve(mentions)) == expected


def test_link_a_lone_surname_to_the_one_known_full_name() -> None:
    known = surname_index(["francois hollande", "salah abdeslam", "brahim abdeslam", "obama"])
    assert link("hollande", known) == "francois hollande"
    assert link("abdeslam", known) == "abdeslam"  # two brothers: ambiguous
    assert link("obama", known) == "obama"  # a one-word key is nobody's surname
    assert link("cameron", known) == "cameron"
    assert link("jean hollande", known) == "jean hollande"  # a full name stands for itself

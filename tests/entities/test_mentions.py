"""Cleaning what the recogniser takes for a name, and telling a site's own name."""

from __future__ import annotations

import pytest

from pipeline.entities.mentions import Kind, Mention, clean, headline, mentions, site_names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Paris", "Paris"),
        ("  Saint-Denis \n", "Saint-Denis"),
        ("the White House's", "White House"),
        ("The Kremlin\u2019s", "Kremlin"),
        ("\u201cAbdeslam\u201d", "Abdeslam"),
        ("Brahim Abdeslam,", "Brahim Abdeslam"),
        ("the United States'", "United States"),
        ("Paris'", "Paris"),
        ("U.S.", "U.S."),
        ("Martin Luther King Jr.", "Martin Luther King Jr"),
        ("FBI", "FBI"),
        ("NATO", "NATO"),
        ("BREAKING NEWS", None),
        ("WATCH", None),
        ("J", None),
        ("J.", None),
        ("2015", None),
        ("--", None),
        ("", None),
        ("defence ministry", None),
        ("the", None),
        ("Photo: Detroit Free Press", "Detroit Free Press"),
    ],
    ids=[
        "plain",
        "whitespace",
        "article-and-possessive",
        "curly-possessive",
        "curly-quotes",
        "trailing-comma",
        "plural-possessive",
        "s-possessive",
        "initialism-keeps-its-stops",
        "suffix-loses-its-stop",
        "acronym",
        "four-letter-acronym",
        "shouted-headline",
        "shouted-word",
        "single-letter",
        "initial",
        "number",
        "punctuation",
        "empty",
        "lower-case-description",
        "article-alone",
        "caption-label",
    ],
)
def test_clean(text: str, expected: str | None) -> None:
    assert clean(text) == expected


def test_site_names_are_the_outlet_its_parts_and_its_feed() -> None:
    names = site_names(["NBC12 - WWBT", "wwbt-news", "The Atlas Post", "www.local10.com"])
    assert {"nbc12 wwbt", "nbc12", "wwbt", "wwbt news", "atlas post"} <= names
    assert {"local10 com", "local10"} <= names
    assert "news" not in names  # a feed's slug is one name, not a list of words


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "Man shot in Richmond - NBC12 - WWBT - Richmond, VA News On Your Side",
            "Man shot in Richmond",
        ),
        ("Jonah Lomu dies | The Atlas Post", "Jonah Lomu dies"),
        ("Paris attacks: police raid Saint-Denis", "Paris attacks: police raid Saint-Denis"),
        ("Raid in Saint-Denis - live updates", "Raid in Saint-Denis - live updates"),
    ],
    ids=["station-suffix", "outlet-suffix", "colon-kept", "other-suffix-kept"],
)
def test_headline_without_the_sites_suffix(title: str, expected: str) -> None:
    assert headline(title, site_names(["NBC12 - WWBT", "The Atlas Post"])) == expected


def test_mentions_keep_three_kinds_and_drop_the_site() -> None:
    spans = [
        ("Salah Abdeslam", "PERSON", True),
        ("Friday", "DATE", False),
        ("French", "NORP", False),
        ("NBC12", "PERSON", False),
        ("the FBI", "ORG", False),
        ("Molenbeek", "GPE", False),
        ("the Mediterranean", "LOC", False),
        ("Stade de France", "FAC", False),
        ("$5 million", "MONEY", False),
    ]
    assert mentions(spans, site_names(["NBC12 - WWBT"])) == [
        Mention(Kind.PERSON, "Salah Abdeslam", True),
        Mention(Kind.ORGANISATION, "FBI", False),
        Mention(Kind.PLACE, "Molenbeek", False),
        Mention(Kind.PLACE, "Mediterranean", False),
        Mention(Kind.PLACE, "Stade de France", False),
    ]

"""The summary's choice of sentences: pure, on plain records."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from pipeline.stories.summary import (
    Boilerplate,
    SummaryArticle,
    lead_sentences,
    summarise,
)
from tests.factories import direction, mix

T = datetime(2015, 11, 16, tzinfo=UTC)
CENTER = direction(1)

RAID = "French police raided an apartment in Saint-Denis before dawn on Wednesday morning."
SUSPECT = "Investigators believe the suspected organiser of the attacks was inside the building."
CUSTODY = "Seven people were taken into custody and two suspects died during the long operation."
PAYWALL = "Please check your inbox and confirm the link we sent to keep reading this article."


def article(
    id_: int,
    text: str,
    cosine: float = 0.95,
    outlet: str = "Alpha",
    title: str = "",
    like: int | None = None,
) -> SummaryArticle:
    """An article whose vector has ``cosine`` to the story's common direction (the same
    vector as article ``like``'s, given the same cosine)."""
    vector = mix(CENTER, direction(100 + (like or id_)), cosine).astype(np.float32)
    return SummaryArticle(
        id=id_,
        outlet=outlet,
        url=f"https://{outlet.lower()}.example/{id_}",
        title=title or f"Headline {id_} about the raid",
        text=text,
        vector=vector,
        published=T,
    )


def sentences(articles: list[SummaryArticle], boilerplate: Boilerplate | None = None) -> list[str]:
    return [s.sentence for s in summarise(articles, boilerplate)]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"{RAID} {SUSPECT}", [RAID, SUSPECT]),
        ("Click here to sign up for our daily newsletter and never miss a story. " + RAID, [RAID]),
        ("Copyright 2015 The Associated Press. All rights reserved. " + RAID, [RAID]),
        ("By Jane Doe and John Roe, Staff Writers for the Harbor Daily. " + RAID, [RAID]),
        ("What did the police find in the apartment in Saint-Denis this week? " + RAID, [RAID]),
        ("Home News Sports Weather Opinion Contact Us About Advertise.\n" + RAID, [RAID]),
        (RAID + " More at https://example.com/paris-raid for the full story today.", [RAID]),
        (RAID + " Police said the operation in the northern suburb of Paris ...", [RAID]),
        ("Too short to say anything.\n" + RAID, [RAID]),
        ("SAINT-DENIS, France (AP) \u2014 " + RAID, [RAID]),
        ("", []),
        ("Raid in Saint-Denis", []),
    ],
    ids=[
        "news-kept",
        "sign-up",
        "copyright",
        "byline",
        "question",
        "menu",
        "link",
        "cut-teaser",
        "short",
        "dateline-stripped",
        "empty",
        "teaser-only",
    ],
)
def test_lead_sentences_keep_only_news(text: str, kept: list[str]) -> None:
    assert lead_sentences([("Police raid a flat near Paris", text)]) == [kept]


def test_the_headline_repeated_in_the_body_is_no_sentence() -> None:
    title = "French police raided an apartment in Saint-Denis before dawn on Wednesday morning"
    assert lead_sentences([(title, f"{RAID} {SUSPECT}")]) == [[SUSPECT]]


def test_only_the_first_lead_sentences_count() -> None:
    text = " ".join(
        f"Sentence number {n} of the long body says something new here." for n in "12345"
    )
    (lead,) = lead_sentences([("Title", text)])
    assert [s.split()[2] for s in lead] == ["1", "2", "3"]


def test_non_english_text_is_split_and_kept() -> None:
    text = (
        "La police française a mené un assaut à Saint-Denis mercredi matin avant l'aube. "
        "Deux suspects sont morts et sept personnes ont été interpellées selon le ministre."
    )
    (lead,) = lead_sentences([("Assaut à Saint-Denis", text)])
    assert lead == [
        "La police française a mené un assaut à Saint-Denis mercredi matin avant l'aube.",
        "Deux suspects sont morts et sept personnes ont été interpellées selon le ministre.",
    ]


def test_the_most_central_article_gives_the_first_sentence() -> None:
    articles = [
        article(1, CUSTODY, cosine=0.5, outlet="Beta"),
        article(2, RAID, cosine=0.97, outlet="Alpha"),
        article(3, SUSPECT, cosine=0.8, outlet="Gamma"),
    ]
    chosen = summarise(articles)
    assert chosen[0].article_id == 2
    assert chosen[0].sentence == RAID
    assert {s.article_id for s in chosen} == {1, 2, 3}


def test_reprints_never_give_the_same_sentence_twice() -> None:
    articles = [
        article(1, f"{RAID} {SUSPECT}", cosine=0.97, outlet="Alpha"),
        article(2, f"{RAID} {SUSPECT}", cosine=0.97, outlet="Beta"),
        article(3, f"{RAID.replace('Wednesday', 'Wednesday,')} {CUSTODY}", outlet="Gamma"),
    ]
    chosen = sentences(articles)
    assert len(chosen) == len(set(chosen)) == 3
    assert sum(RAID.split()[:6] == s.split()[:6] for s in chosen) == 1


def test_one_fact_told_again_in_other_words_comes_after_a_new_one() -> None:
    # Articles 2 and 3 read alike (one vector, as central): article 2 tells article 1's fact
    # in other words (too unlike it to be a copy), article 3 a new one, which comes second
    # though article 2 would win the tie. Two more articles with no text, like article 1,
    # keep it the most central.
    retold = "Armed police raided the apartment block at Saint-Denis at dawn, officials said."
    articles = [
        article(1, RAID, cosine=0.97),
        article(2, retold, cosine=0.9, outlet="Beta"),
        article(3, CUSTODY, cosine=0.9, outlet="Gamma", like=2),
        article(4, "", cosine=0.97, like=1),
        article(5, "", cosine=0.97, like=1),
    ]
    assert [s.article_id for s in summarise(articles)] == [1, 3, 2]


def test_a_sentence_saying_what_one_chosen_says_is_left_out() -> None:
    # Two articles near the centroid say the same thing in nearly the same words; a third,
    # less central, says something else: it comes second.
    same = "Police raided an apartment in Saint-Denis before dawn on Wednesday morning, officials said."
    articles = [
        article(1, RAID, cosine=0.97),
        article(2, same, cosine=0.96, outlet="Beta"),
        article(3, CUSTODY, cosine=0.85, outlet="Gamma"),
    ]
    assert sentences(articles)[:2] == [RAID, CUSTODY]


def test_one_article_gives_its_lead_in_order() -> None:
    assert sentences([article(1, f"{RAID} {SUSPECT} {CUSTODY}")]) == [RAID, SUSPECT, CUSTODY]


def test_at_most_three_sentences() -> None:
    articles = [article(i, f"{RAID} {SUSPECT} {CUSTODY}", outlet=f"O{i}") for i in range(1, 6)]
    assert len(summarise(articles)) == 3


def test_no_text_no_summary() -> None:
    assert summarise([]) == []
    assert summarise([article(1, ""), article(2, "Raid in Saint-Denis")]) == []


def test_boilerplate_across_stories_and_headlines_is_dropped() -> None:
    window = [
        (1, "Raid in Saint-Denis", f"{PAYWALL} {RAID}"),
        (2, "Storm hits the coast", f"{PAYWALL} A storm hit the coast on Tuesday and cut power."),
        (None, "Budget vote delayed", f"{PAYWALL} The vote on the budget was put off again."),
    ]
    boilerplate = Boilerplate(window)
    assert PAYWALL in boilerplate
    assert RAID not in boilerplate
    assert sentences([article(1, f"{PAYWALL} {RAID}")], boilerplate) == [RAID]
    assert sentences([article(1, f"{PAYWALL} {RAID}")]) == [PAYWALL, RAID]


@pytest.mark.parametrize(
    "window",
    [
        [(1, "Raid in Saint-Denis", RAID), (1, "Saint-Denis raid ends", RAID)],
        [(1, "Raid in Saint-Denis", RAID), (None, "Raid in Saint-Denis", RAID)],
    ],
    ids=["wire-copy-in-one-story", "reprint-in-no-story"],
)
def test_a_storys_own_copy_is_no_boilerplate(window: list[tuple[int | None, str, str]]) -> None:
    assert RAID not in Boilerplate(window)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("UPDATE: " + RAID, [RAID]),
        ("the number two man at the agency died on Thursday at his home in California.", []),
        ("\u201cAny time one of our students is hurt it has a huge impact on the school.", []),
        ("\u2014 " + RAID, [RAID]),
    ],
    ids=["label-stripped", "lower-case-fragment", "unclosed-quotation", "leading-dash"],
)
def test_fragments_are_no_sentences(text: str, kept: list[str]) -> None:
    assert lead_sentences([("Police raid a flat near Paris", text)]) == [kept]


def test_a_rank_before_a_name_ends_no_sentence() -> None:
    text = (
        "The suspect shot the group near Turk Street, San Francisco police Sgt. Tony Chaplin said."
    )
    assert lead_sentences([("Shooting in San Francisco", text)]) == [[text]]

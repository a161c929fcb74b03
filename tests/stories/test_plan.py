"""The story plan from plain records: no database."""

from __future__ import annotations

import numpy as np

from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.plan import PLANNED, LoneArticle, StoryState, plan_stories
from pipeline.stories.tracking import KnownStory, WordCheck
from tests.factories import direction, near

QUAKE, VOTE, FAR = direction(1), direction(2), direction(3)
TEXTS = [
    "Quake hits Iquique in northern Chile",
    "Iquique quake: Chile counts the damage",
    "Vote count begins in Lima",
    "Lima vote: turnout high",
    "Chile quake aftershock rattles Iquique",
    "Chess prodigy becomes grandmaster",
]


def state(**fields: object) -> StoryState:
    vectors = np.stack(
        [near(QUAKE, 1), near(QUAKE, 2), near(VOTE, 3), near(VOTE, 4), near(QUAKE, 5), FAR]
    )
    values: dict[str, object] = {
        "article_ids": [11, 12, 13, 14, 15, 16],
        "labels": np.array([0, 0, 1, 1, NOISE, NOISE]),
        "vectors": vectors,
        "current": {11: 7},
        "known": [KnownStory(7, QUAKE, frozenset({11}))],
        "words": WordCheck(window=TEXTS, clusters={}, min_similarity=0.2),
    }
    return StoryState(**(values | fields))  # type: ignore[arg-type]


def test_clusters_continue_their_story_or_found_planned_ones_and_lone_articles_join() -> None:
    plan = plan_stories(state())
    assert plan.new_stories == 1
    assert plan.target == {11: 7, 12: 7, 13: PLANNED, 14: PLANNED, 15: 7, 16: None}
    assert set(plan.centroids) == {7, PLANNED}


def test_a_lone_article_joins_an_older_story_only_if_the_words_agree() -> None:
    older = KnownStory(3, FAR, frozenset(), recent=False, text="chess grandmaster prodigy")
    assert plan_stories(state(older_near_lonely=[older])).target[16] == 3
    unrelated = KnownStory(3, FAR, frozenset(), recent=False, text="football cup final")
    assert plan_stories(state(older_near_lonely=[unrelated])).target[16] is None


def test_an_older_story_a_cluster_continued_is_offered_at_its_new_centroid() -> None:
    # Story 3 is older and far from the lone article as stored, but the vote cluster
    # continues it, so lone articles see it where the cluster is now.
    older = KnownStory(3, VOTE, frozenset(), recent=False, text="Lima vote count turnout")
    stale = KnownStory(3, FAR, frozenset(), recent=False, text="chess grandmaster prodigy")
    plan = plan_stories(state(known=[*state().known, older], older_near_lonely=[stale]))
    assert plan.target[13] == plan.target[14] == 3
    assert plan.target[16] is None  # not joined through story 3's stale centroid


def test_no_attaching_above_one() -> None:
    plan = plan_stories(state(attach_similarity=None))
    assert plan.target[15] is None


def test_new_stories_are_planned_in_label_order() -> None:
    plan = plan_stories(state(known=[], current={}))
    assert plan.new_stories == 2
    assert (plan.target[11], plan.target[13]) == (PLANNED, PLANNED + 1)


def test_a_lone_article_pairs_with_an_older_lone_article_only_if_the_words_agree() -> None:
    # Article 16 (chess) joins no story; article 5, published before the window and in no
    # story, reads alike and names the same things: the two found a story.
    sibling = LoneArticle(5, FAR, "Chess prodigy is the youngest grandmaster")
    plan = plan_stories(state(older_lonely=[sibling]))
    assert plan.new_stories == 2
    assert plan.target[16] == plan.target[5] == PLANNED + 1
    look_alike = LoneArticle(5, FAR, "Football cup final goes to penalties")
    plan = plan_stories(state(older_lonely=[look_alike]))
    assert (plan.new_stories, plan.target[16]) == (1, None)
    assert 5 not in plan.target


def test_a_lone_article_joins_a_story_before_it_pairs() -> None:
    # Article 15 (quake) is close to story 7 and to an older lone quake report: it joins
    # the story, and the older report stays alone.
    older = LoneArticle(4, QUAKE, "Chile quake aftershock rattles Iquique")
    plan = plan_stories(state(older_lonely=[older]))
    assert plan.target[15] == 7
    assert 4 not in plan.target


def test_two_lone_articles_pairing_with_one_older_article_found_one_story() -> None:
    sibling = LoneArticle(5, FAR, "Chess prodigy is the youngest grandmaster")
    texts = [*TEXTS[:4], "Chess grandmaster prodigy wins again", TEXTS[5]]
    plan = plan_stories(
        state(
            older_lonely=[sibling],
            known=[],
            current={},
            vectors=np.stack(
                [near(QUAKE, 1), near(QUAKE, 2), near(VOTE, 3), near(VOTE, 4), FAR, FAR]
            ),
            words=WordCheck(window=texts, clusters={}, min_similarity=0.2),
        )
    )
    assert plan.new_stories == 3
    assert plan.target[15] == plan.target[16] == plan.target[5] == PLANNED + 2


def test_no_pairing_when_lone_articles_join_nothing() -> None:
    sibling = LoneArticle(5, FAR, "Chess prodigy is the youngest grandmaster")
    plan = plan_stories(state(older_lonely=[sibling], attach_similarity=None))
    assert plan.target[16] is None
    assert 5 not in plan.target


def test_an_article_that_says_nothing_neither_joins_nor_pairs() -> None:
    # Article 15 would join story 7, and 16 pair with an older lone article: marked as
    # saying nothing (``text.says_nothing``), both stay alone.
    sibling = LoneArticle(5, FAR, "Chess prodigy is the youngest grandmaster")
    plan = plan_stories(state(older_lonely=[sibling], mute=frozenset({15, 16})))
    assert plan.target[15] is None
    assert plan.target[16] is None
    assert 5 not in plan.target

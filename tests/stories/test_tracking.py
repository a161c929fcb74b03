from __future__ import annotations

import numpy as np
import pytest

from pipeline.stories.tracking import KnownStory, WordCheck, attach_to_stories, match_clusters


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def members(*ids: int) -> frozenset[int]:
    return frozenset(ids)


def test_growing_story_keeps_its_id() -> None:
    stories = [KnownStory(10, unit(1, 0), members(1, 2))]
    result = match_clusters({0: members(1, 2, 3)}, {0: unit(1, 0)}, stories, 0.8)
    assert result == {0: 10}


def test_split_story_keeps_its_id_on_the_larger_part() -> None:
    stories = [KnownStory(10, unit(1, 0), members(1, 2, 3, 4, 5))]
    clusters = {0: members(1, 2), 1: members(3, 4, 5)}
    centroids = {0: unit(0, 1), 1: unit(1, 0)}
    assert match_clusters(clusters, centroids, stories, 0.8) == {0: None, 1: 10}


def test_merge_survivor_is_the_story_giving_more_articles() -> None:
    stories = [
        KnownStory(10, unit(1, 0), members(1, 2)),
        KnownStory(11, unit(1, 1), members(3, 4, 5)),
    ]
    result = match_clusters({0: members(1, 2, 3, 4, 5)}, {0: unit(1, 0.5)}, stories, 0.8)
    assert result == {0: 11}


def test_cluster_sharing_nothing_continues_a_similar_story() -> None:
    stories = [KnownStory(10, unit(1, 0.1), members()), KnownStory(11, unit(0, 1), members())]
    assert match_clusters({0: members(7, 8)}, {0: unit(1, 0)}, stories, 0.8) == {0: 10}


def test_dissimilar_cluster_starts_a_new_story() -> None:
    stories = [KnownStory(10, unit(0, 1), members())]
    assert match_clusters({0: members(7, 8)}, {0: unit(1, 0)}, stories, 0.8) == {0: None}


def test_each_story_continues_one_cluster() -> None:
    stories = [KnownStory(10, unit(1, 0), members())]
    clusters = {0: members(1, 2), 1: members(3, 4)}
    centroids = {0: unit(1, 0.2), 1: unit(1, 0.1)}
    assert match_clusters(clusters, centroids, stories, 0.5) == {0: None, 1: 10}


def test_result_does_not_depend_on_story_order() -> None:
    a = KnownStory(10, unit(1, 0), members(1, 2))
    b = KnownStory(11, unit(0, 1), members(3, 4))
    clusters = {0: members(1, 2, 3, 4)}
    centroids = {0: unit(1, 1)}
    assert match_clusters(clusters, centroids, [a, b], 0.8) == match_clusters(
        clusters, centroids, [b, a], 0.8
    )
    assert match_clusters(clusters, centroids, [a, b], 0.8) == {0: 10}


SHOOTING = "Man shot dead outside bar in Springfield; police seek gunman named John Doe"
WINDOW = [
    "Two wounded in shooting at Oakland gas station, police say",
    "Teen shot in Memphis drive-by; no arrests",
    "Man shot outside bar in Springfield dies; police name suspect John Doe",
    "Springfield bar shooting: John Doe arrested",
]


def words(min_similarity: float = 0.3) -> WordCheck:
    return WordCheck(
        window=WINDOW, clusters={0: " ".join(WINDOW[2:])}, min_similarity=min_similarity
    )


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        (KnownStory(10, unit(1, 0), members(), recent=False, text=SHOOTING), 10),
        (KnownStory(10, unit(1, 0), members(), recent=False, text=WINDOW[0]), None),
        (KnownStory(10, unit(1, 0), members(), recent=False, text=""), None),
        (KnownStory(10, unit(1, 0), members(), recent=True, text=WINDOW[0]), 10),
        (KnownStory(10, unit(0, 1), members(), recent=False, text=SHOOTING), None),
    ],
    ids=[
        "old-story-same-names",
        "old-look-alike-event",
        "old-story-no-text",
        "recent-story-centroid-alone",
        "old-story-far-centroid",
    ],
)
def test_old_story_needs_shared_words(story: KnownStory, expected: int | None) -> None:
    result = match_clusters({0: members(7, 8)}, {0: unit(1, 0)}, [story], 0.8, words())
    assert result == {0: expected}


def test_word_check_passes_over_a_look_alike_to_the_next_story() -> None:
    look_alike = KnownStory(10, unit(1, 0), members(), recent=False, text=WINDOW[1])
    same = KnownStory(11, unit(1, 0.2), members(), recent=False, text=SHOOTING)
    result = match_clusters({0: members(7, 8)}, {0: unit(1, 0)}, [look_alike, same], 0.8, words())
    assert result == {0: 11}


@pytest.mark.parametrize(
    ("window", "expected"),
    [([SHOOTING, WINDOW[2]], True), (["the a of", "and the"], False)],
    ids=["shared-names", "no-known-word"],
)
def test_word_similarity(window: list[str], expected: bool) -> None:
    check = WordCheck(window=window, clusters={0: window[-1]}, min_similarity=0.3)
    assert (check.similarity(0, window[0]) >= 0.3) is expected


def recent(centres: dict[int, np.ndarray]) -> list[KnownStory]:
    return [KnownStory(story_id, centre, members()) for story_id, centre in centres.items()]


@pytest.mark.parametrize(
    ("vector", "stories", "expected"),
    [
        (unit(1, 0.1), {10: unit(1, 0), 11: unit(0, 1)}, 10),
        (unit(1, 1), {10: unit(1, 0), 11: unit(0, 1)}, None),
        (unit(1, 0), {12: unit(1, 0), 11: unit(1, 0)}, 11),
        (unit(1, 0), {}, None),
    ],
    ids=["nearest-close-enough", "nothing-close-enough", "tie-lower-id", "no-stories"],
)
def test_attach_to_stories(
    vector: np.ndarray, stories: dict[int, np.ndarray], expected: int | None
) -> None:
    assert attach_to_stories(vector[None, :], recent(stories), 0.9) == [expected]


def test_attach_nothing_to_attach() -> None:
    assert attach_to_stories(np.zeros((0, 2), np.float32), recent({10: unit(1, 0)}), 0.9) == []


def lone_words() -> WordCheck:
    """The word check with row 0 (the lone article) reading as the Springfield follow-up."""
    return words().with_texts({0: WINDOW[3]})


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        (KnownStory(10, unit(1, 0), members(), recent=False, text=SHOOTING), 10),
        (KnownStory(10, unit(1, 0), members(), recent=False, text=WINDOW[0]), None),
        (KnownStory(10, unit(1, 0), members(), recent=True, text=WINDOW[0]), 10),
        (KnownStory(10, unit(0, 1), members(), recent=False, text=SHOOTING), None),
    ],
    ids=[
        "old-story-same-names",
        "old-look-alike-event",
        "recent-story-centroid-alone",
        "old-story-far-centroid",
    ],
)
def test_lone_article_joins_an_old_story_only_with_shared_words(
    story: KnownStory, expected: int | None
) -> None:
    assert attach_to_stories(unit(1, 0)[None, :], [story], 0.9, lone_words()) == [expected]


def test_lone_article_passes_over_a_look_alike_to_the_next_story() -> None:
    look_alike = KnownStory(10, unit(1, 0), members(), recent=False, text=WINDOW[1])
    same = KnownStory(11, unit(1, 0.2), members(), recent=False, text=SHOOTING)
    chosen = attach_to_stories(unit(1, 0)[None, :], [same, look_alike], 0.9, lone_words())
    assert chosen == [11]


def test_word_check_with_other_texts_keeps_the_window_weights() -> None:
    check = words()
    other = check.with_texts({5: WINDOW[2]})
    assert other.similarity(5, SHOOTING) == pytest.approx(
        WordCheck(window=WINDOW, clusters={5: WINDOW[2]}, min_similarity=0.3).similarity(
            5, SHOOTING
        )
    )
    assert other.similarity(0, SHOOTING) == 0.0  # the new texts replace the old


def test_a_story_of_another_dimension_continues_only_by_shared_articles() -> None:
    """A centroid of another length is another model's: never compared, still matched by
    the articles it shares."""
    stories = [KnownStory(10, unit(1, 0), members(1, 2)), KnownStory(11, unit(1, 0), members())]
    clusters = {0: members(1, 2, 3), 1: members(4, 5)}
    centroids = {0: unit(1, 0, 0), 1: unit(1, 0, 0)}
    assert match_clusters(clusters, centroids, stories, 0.8) == {0: 10, 1: None}


def test_a_lone_article_does_not_attach_to_a_story_of_another_dimension() -> None:
    stories = [KnownStory(10, unit(1, 0), members()), KnownStory(11, unit(1, 0, 0), members())]
    assert attach_to_stories(np.stack([unit(1, 0, 0)]), stories, 0.8) == [11]

"""What a cluster run changes in the stories, planned from plain records. Pure.

The cluster stage reads everything first (``state.load_state``: the window's current
memberships, the stories a cluster or a lone article may continue, their texts), then
``plan_stories`` decides, then ``write.write_plan`` writes the plan. Deciding:

1. **Clusters to stories** (``tracking.match_clusters``): a cluster continues the story
   that holds most of its articles, else one whose centroid is close enough (an older story
   also needs the word check); a cluster nothing continues founds a new story.
2. **Lone articles** (noise) join the nearest story if close enough
   (``tracking.attach_to_stories``): a recent story or one of this run's clusters at its new
   centroid, or an older live story near the article that passes the word check.
3. **Lone pairs across time**: a lone article that joined nothing pairs with the nearest
   older article no story holds, if as close and passing the word check: the two found a
   new story. A follow-up weeks later, or an undated report filed at the start of a
   replay, is then not lost because its one sibling came too early to make a cluster.

New stories are planned with ids from ``PLANNED`` up, in the order the writer creates
them, so they sort after every real story as the ids they get will: ties in matching break
on the lower id, and break the same way before and after writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from models.types import FloatArray
from pipeline.stories.clustering.labels import NOISE, Labels
from pipeline.stories.clustering.vectors import centroid, normalise
from pipeline.stories.tracking import KnownStory, WordCheck, attach_to_stories, match_clusters

PLANNED = 2**62
"""The first planned (not yet written) story's id; above every id a database gives."""


@dataclass(frozen=True)
class StoryState:
    """What the plan reads: the window as clustered, and the stories it may continue."""

    article_ids: list[int]
    """The window's articles, in window order (rows of ``labels`` and ``vectors``)."""
    labels: Labels
    vectors: FloatArray
    current: Mapping[int, int]
    """Article -> the story it belongs to now, for the window's articles that have one."""
    known: list[KnownStory]
    """Stories a cluster may continue: those holding window articles, those seen since the
    previous window, and older live ones near some cluster (with their texts)."""
    older_near_lonely: list[KnownStory] = field(default_factory=list)
    """Older live stories near some lone article (with their texts), ``recent=False``."""
    words: WordCheck | None = None
    """The word check; its ``window`` holds each article's text, in window order."""
    match_similarity: float = 0.8
    attach_similarity: float | None = 0.75
    """``None``: lone articles join nothing and pair with nothing."""
    older_lonely: list[LoneArticle] = field(default_factory=list)
    """Older articles no story holds, near some lone article (with their texts): those a
    lone article may pair with."""
    mute: frozenset[int] = frozenset()
    """Window articles that say nothing (``text.says_nothing``): noise the clustering made
    them, and no story takes them as lone articles either."""


@dataclass(frozen=True)
class LoneArticle:
    """An article published before the window that no story holds."""

    id: int
    vector: FloatArray
    """At unit length."""
    text: str
    """Its headline and lead, for the word check."""


@dataclass(frozen=True)
class StoryPlan:
    target: dict[int, int | None]
    """Each window article's story after the run: an existing id, a planned id (from
    ``PLANNED``), or ``None`` (noise no story took); and each older lone article a pair
    took, with its planned id."""
    new_stories: int
    """Planned stories, ids ``PLANNED`` to ``PLANNED + new_stories - 1``."""
    centroids: dict[int, FloatArray]
    """Each cluster's centroid, by the story (existing or planned) it went to."""


def plan_stories(state: StoryState) -> StoryPlan:
    """Which story each window article belongs to after this run (see the module doc)."""
    ids = state.article_ids
    clusters: dict[int, frozenset[int]] = {}
    centroids: dict[int, FloatArray] = {}
    for label in sorted(set(state.labels.tolist()) - {NOISE}):
        rows = np.flatnonzero(state.labels == label)
        clusters[label] = frozenset(ids[i] for i in rows)
        centroids[label] = centroid(state.vectors[rows])
    words = state.words
    if words is not None:
        words = words.with_texts(
            {
                label: " ".join(words.window[int(i)] for i in np.flatnonzero(state.labels == label))
                for label in clusters
            }
        )
    matches = match_clusters(clusters, centroids, state.known, state.match_similarity, words)

    target: dict[int, int | None] = dict.fromkeys(ids)
    planned = 0
    fresh: dict[int, FloatArray] = {}
    for label in sorted(clusters):
        story_id = matches[label]
        if story_id is None:
            story_id = PLANNED + planned
            planned += 1
        fresh[story_id] = centroids[label]
        for article_id in clusters[label]:
            target[article_id] = story_id
    _attach_lonely(state, target, fresh)
    planned = _pair_lonely(state, target, planned)
    return StoryPlan(target=target, new_stories=planned, centroids=fresh)


def _attach_lonely(
    state: StoryState, target: dict[int, int | None], fresh: dict[int, FloatArray]
) -> None:
    lonely = _lonely(state, target)
    least = state.attach_similarity
    if not lonely or least is None:
        return
    latest: dict[int, FloatArray | None] = {
        story.id: story.centroid for story in state.known if story.recent
    }
    latest.update(fresh)
    stories = [KnownStory(story_id, center, frozenset()) for story_id, center in latest.items()]
    # An older story a cluster continued is in ``latest`` at its new centroid already.
    stories += [story for story in state.older_near_lonely if story.id not in latest]
    unit = normalise(state.vectors[lonely])
    chosen = attach_to_stories(unit, stories, least, _lone_words(state, lonely))
    for row, story_id in zip(lonely, chosen, strict=True):
        target[state.article_ids[row]] = story_id


def _pair_lonely(state: StoryState, target: dict[int, int | None], planned: int) -> int:
    """Pair each lone article still unattached with its nearest older lone article (step
    3); returns the planned story count. Two lone articles that pick the same older one
    found one story of three."""
    least = state.attach_similarity
    lonely = _lonely(state, target)
    if not lonely or not state.older_lonely or least is None:
        return planned
    # Each older article is offered as a story of one that needs the word check.
    older = [
        KnownStory(article.id, article.vector, frozenset(), recent=False, text=article.text)
        for article in state.older_lonely
    ]
    chosen = attach_to_stories(
        normalise(state.vectors[lonely]), older, least, _lone_words(state, lonely)
    )
    founded: dict[int, int] = {}
    for row, older_id in zip(lonely, chosen, strict=True):
        if older_id is None:
            continue
        if older_id not in founded:
            founded[older_id] = PLANNED + planned
            planned += 1
            target[older_id] = founded[older_id]
        target[state.article_ids[row]] = founded[older_id]
    return planned


def _lonely(state: StoryState, target: dict[int, int | None]) -> list[int]:
    """The window rows no story took yet, but those that say nothing."""
    return [
        row
        for row, article_id in enumerate(state.article_ids)
        if target[article_id] is None and article_id not in state.mute
    ]


def _lone_words(state: StoryState, lonely: list[int]) -> WordCheck | None:
    """The word check for these window rows, keyed by their position in ``lonely``."""
    words = state.words
    if words is None:
        return None
    return words.with_texts({index: words.window[row] for index, row in enumerate(lonely)})

"""Matching this run's clusters to existing stories, so a story keeps its id as it grows. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from models.types import FloatArray

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer


SIMILARITY_TOLERANCE = 1e-6
"""How far below a threshold a story's similarity may be when the database computes it:
pgvector's cosine distance is float32 and numpy's is float64, so the same pair can fall a
rounding error apart. Candidates are fetched this much below the threshold; the pure match
then decides on numpy's value."""


@dataclass(frozen=True)
class KnownStory:
    """An existing story as the matcher sees it."""

    id: int
    centroid: FloatArray | None
    members: frozenset[int]
    """Its articles that are in the current window."""
    recent: bool = True
    """Seen in the previous window: a close centroid alone may continue it. An older story
    also needs the word check, else every look-alike event months later would join it."""
    text: str = ""
    """Its latest titles and summaries, for the word check."""


@dataclass(frozen=True)
class WordCheck:
    """Shared words a match by centroid needs besides close centroids.

    Embeddings of one topic sit close (every shooting reads alike, months apart); the
    names, places and numbers tell a continuation from a look-alike event.
    """

    window: Sequence[str]
    """The window's article texts: word weights (IDF) come from them, so the words common
    this week (the topic) count little."""
    clusters: Mapping[int, str]
    """Each cluster's member texts, joined."""
    min_similarity: float | None
    """Least TF-IDF cosine between a cluster's text and the story's text; ``None``: no
    text agrees."""

    @cached_property
    def _vectorizer(self) -> TfidfVectorizer | None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
        try:
            vectorizer.fit(self.window)
        except ValueError:  # no word survives stop-word removal in the whole window
            return None
        return vectorizer

    def with_texts(self, clusters: Mapping[int, str]) -> WordCheck:
        """The same check (same window, same word weights) for other texts; fit only once."""
        other = replace(self, clusters=clusters)
        other.__dict__["_vectorizer"] = self._vectorizer
        return other

    def agrees(self, label: int, story_text: str) -> bool:
        """Whether cluster ``label``'s text and ``story_text`` reach ``min_similarity``."""
        least = self.min_similarity
        return least is not None and self.similarity(label, story_text) >= least

    def similarity(self, label: int, story_text: str) -> float:
        """TF-IDF cosine of cluster ``label``'s text and ``story_text`` (0 with no known word)."""
        if self._vectorizer is None:
            return 0.0
        pair = self._vectorizer.transform([self.clusters.get(label, ""), story_text])
        return float(pair[0].multiply(pair[1]).sum())


def match_clusters(
    clusters: Mapping[int, frozenset[int]],
    centroids: Mapping[int, FloatArray],
    stories: list[KnownStory],
    min_similarity: float,
    words: WordCheck | None = None,
) -> dict[int, int | None]:
    """Map each cluster label to the story it continues, or ``None`` for a new story.

    First by shared articles: the pair sharing the most articles is matched first, so
    when a story splits the larger part keeps its id, and when two stories merge the one
    contributing more articles survives. Then clusters sharing nothing are matched to a
    remaining story whose centroid (of the clusters' dimension) is at least
    ``min_similarity`` (cosine) away, most similar pair first; a story that is not
    ``recent`` only if, given ``words``, their texts also share enough words. Each story
    continues at most one cluster. Ties break on the lower story id and cluster label, so
    the result does not depend on input order.
    """
    matched: dict[int, int | None] = {}
    taken: set[int] = set()

    overlaps = sorted(
        (
            (-len(members & story.members), story.id, label)
            for label, members in clusters.items()
            for story in stories
            if members & story.members
        )
    )
    for _, story_id, label in overlaps:
        if label not in matched and story_id not in taken:
            matched[label] = story_id
            taken.add(story_id)

    older = {story.id: story.text for story in stories if not story.recent}
    similar = sorted(
        (-float(np.dot(centroids[label], story.centroid)), story.id, label)
        for label in clusters
        if label not in matched
        for story in stories
        if story.id not in taken
        and story.centroid is not None
        # A centroid of another length is another model's (the setting changed): only
        # shared articles can continue that story.
        and story.centroid.shape == centroids[label].shape
    )
    for negative_similarity, story_id, label in similar:
        if -negative_similarity < min_similarity:
            break
        if label in matched or story_id in taken:
            continue
        if story_id in older and words is not None and not words.agrees(label, older[story_id]):
            continue
        matched[label] = story_id
        taken.add(story_id)

    for label in clusters:
        matched.setdefault(label, None)
    return matched


def attach_to_stories(
    vectors: FloatArray,
    stories: Sequence[KnownStory],
    min_similarity: float,
    words: WordCheck | None = None,
) -> list[int | None]:
    """For each vector (an article no cluster took), the story whose centroid is most similar
    (cosine) if at least ``min_similarity``, else ``None``; a story that is not ``recent``
    only if, given ``words``, the article's text (``words.clusters[row]``) also shares
    enough words with it, else the next most similar.

    A clustering needs two close articles in one window; a lone follow-up, or a report that
    arrives after its story has left the window, would stay unattached without this. The
    word check is the one a cluster needs to continue an older story: a lone report of a
    look-alike event months later reads like the old story to the embedding. Ties break on
    the lower story id.
    """
    usable = sorted(
        (
            story
            for story in stories
            # Of the vectors' length only: another is another model's.
            if story.centroid is not None and story.centroid.shape[0] == vectors.shape[1]
        ),
        key=_story_id,
    )
    if vectors.shape[0] == 0 or not usable:
        return [None] * vectors.shape[0]
    matrix = np.stack([story.centroid for story in usable if story.centroid is not None])
    similarity = vectors.astype(np.float64) @ matrix.astype(np.float64).T
    chosen: list[int | None] = []
    for row in range(vectors.shape[0]):
        found = None
        for column in np.argsort(-similarity[row], kind="stable"):
            if similarity[row, column] < min_similarity:
                break
            story = usable[int(column)]
            if not story.recent and words is not None and not words.agrees(row, story.text):
                continue
            found = story.id
            break
        chosen.append(found)
    return chosen


def _story_id(story: KnownStory) -> int:
    return story.id

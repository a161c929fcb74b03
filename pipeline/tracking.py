"""Matching this run's clusters to existing stories, so a story keeps its id as it grows. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models.types import FloatArray


@dataclass(frozen=True)
class KnownStory:
    """An existing story as the matcher sees it."""

    id: int
    centroid: FloatArray | None
    members: frozenset[int]
    """Its articles that are in the current window."""


def match_clusters(
    clusters: Mapping[int, frozenset[int]],
    centroids: Mapping[int, FloatArray],
    stories: list[KnownStory],
    min_similarity: float,
) -> dict[int, int | None]:
    """Map each cluster label to the story it continues, or ``None`` for a new story.

    First by shared articles: the pair sharing the most articles is matched first, so
    when a story splits the larger part keeps its id, and when two stories merge the one
    contributing more articles survives. Then clusters sharing nothing are matched to a
    remaining story whose centroid is at least ``min_similarity`` (cosine) away, most
    similar pair first. Each story continues at most one cluster. Ties break on the lower
    story id and cluster label, so the result does not depend on input order.
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

    similar = sorted(
        (-float(np.dot(centroids[label], story.centroid)), story.id, label)
        for label in clusters
        if label not in matched
        for story in stories
        if story.id not in taken and story.centroid is not None
    )
    for negative_similarity, story_id, label in similar:
        if -negative_similarity < min_similarity:
            break
        if label not in matched and story_id not in taken:
            matched[label] = story_id
            taken.add(story_id)

    for label in clusters:
        matched.setdefault(label, None)
    return matched

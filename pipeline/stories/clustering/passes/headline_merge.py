"""Headline merge: clusters of headlines that tell one story are joined.

Headlines alone leave a broad story (hundreds of differently worded headlines) in many
clusters: the pair cut keeps them apart when they are worded differently. The centroid of a
cluster is steadier than any pair, and shared names (a flight number, a person) confirm the
story.
"""

from __future__ import annotations

import numpy as np

from pipeline.stories.clustering.labels import Labels, members_of
from pipeline.stories.clustering.vectors import normalise
from pipeline.stories.clustering.window import Window


def merge_headline_clusters(window: Window, labels: Labels) -> Labels:
    """Join clusters of headlines whose centroids have at least ``headline_merge_similarity``
    cosine and whose names at least ``headline_merge_name_similarity`` TF-IDF cosine.

    Clusters with bodies are left alone: the cut has already read their words, and there
    look-alike events (same topic, other names) would merge. Joined transitively, so the
    result does not depend on the order of pairs.
    """
    params, index = window.params, window.name_index
    groups_of, least = members_of(labels), params.headline_merge_similarity
    if index is None or least is None or len(groups_of) < 2:
        return labels
    from scipy.cluster.hierarchy import DisjointSet  # type: ignore[import-untyped]

    headline = [label for label, rows in groups_of.items() if window.is_headlines(rows)]
    if len(headline) < 2:
        return labels
    documents = window.documents
    members = [groups_of[label] for label in headline]
    centres = np.stack(
        [normalise(window.unit(rows).mean(axis=0, keepdims=True))[0] for rows in members]
    )
    joined = index.transform([" ".join(documents[i] for i in rows) for rows in members])
    close = (centres @ centres.T >= least) & (
        (joined @ joined.T).toarray() >= params.headline_merge_name_similarity
    )
    groups = DisjointSet(range(len(headline)))
    for first, second in zip(*np.nonzero(np.triu(close, k=1)), strict=True):
        groups.merge(int(first), int(second))
    out = labels.copy()
    for position, rows in enumerate(members):
        out[rows] = headline[groups[position]]
    return out

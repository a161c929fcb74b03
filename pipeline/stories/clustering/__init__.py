"""Clustering a window of articles into candidate stories. Pure: arrays and texts in, labels out.

The flow, each step in its own module:

1. ``window``: the window read once (unit vectors; the text of each article, its share of a
   full body, its words' TF-IDF and its names), for every step below.
2. ``clusterers``: the first grouping, by the ``cluster_algorithm`` setting: ``linkage``
   (average linkage on the blended embedding and word similarity of ``neighbours``' graph,
   the default) or ``density`` (HDBSCAN on the vectors alone).
3. ``passes``: the refinements, in the order ``passes.PASSES`` runs them: ``no_content``,
   ``spread_cap``, ``shared_names``, ``event_split``, ``headline_merge``, ``spread_cap`` again.
4. ``labels.canonical_labels``: clusters renumbered by their first row, so the same input in
   the same order always gives the same labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.types import FloatArray
from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering.clusterers import CLUSTERERS
from pipeline.stories.clustering.labels import NOISE, Labels, canonical_labels
from pipeline.stories.clustering.passes import PASSES
from pipeline.stories.clustering.window import ArticleText, Window

__all__ = ["cluster_vectors"]


def cluster_vectors(
    vectors: FloatArray, params: ClusteringSettings, texts: Sequence[ArticleText] | None = None
) -> Labels:
    """Label each row with a cluster number (0, 1, ...) or ``NOISE``: the clusterer, then
    every pass, then canonical numbers. Clusters smaller than ``min_cluster_size`` are noise."""
    count = vectors.shape[0]
    window = Window(vectors, texts, params)
    if count < params.min_cluster_size or count < 2:
        return np.full(count, NOISE, dtype=np.int64)
    labels = CLUSTERERS[params.cluster_algorithm](window)
    for refine in PASSES:
        labels = refine(window, labels)
    return canonical_labels(labels)

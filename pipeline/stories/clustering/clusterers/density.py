"""HDBSCAN (``cluster_algorithm = hdbscan``): the earlier density clustering, on the vectors
alone; kept as the alternative clusterer."""

from __future__ import annotations

import warnings

import numpy as np

from pipeline.stories.clustering.labels import Labels
from pipeline.stories.clustering.window import Window


def hdbscan_density(window: Window) -> Labels:
    """HDBSCAN on the unit vectors (euclidean, which orders pairs as cosine does)."""
    import hdbscan

    params = window.params
    with warnings.catch_warnings():
        # hdbscan calls sklearn APIs that warn about upcoming renames; nothing we can act on.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        clusterer = hdbscan.HDBSCAN(
            min_cluster_size=params.min_cluster_size,
            min_samples=params.min_samples,
            cluster_selection_epsilon=params.cluster_selection_epsilon,
            metric="euclidean",
            core_dist_n_jobs=1,
        )
        return np.asarray(clusterer.fit_predict(window.unit()), dtype=np.int64)

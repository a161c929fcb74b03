from __future__ import annotations

import numpy as np

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE
from tests.stories.clustering.windows import blobs


def test_outlier_far_from_every_group_is_noise() -> None:
    rng = np.random.default_rng(1)
    stray = rng.normal(size=(1, 32)).astype(np.float32)
    vectors = np.vstack([blobs([4, 4]), stray])
    labels = cluster_vectors(vectors, ClusteringSettings())
    assert labels[-1] == NOISE
    assert set(labels[:-1].tolist()) == {0, 1}


def test_cap_on_spread_drops_far_members() -> None:
    vectors = blobs([6, 6], spread=0.02)
    loose = ClusteringSettings(max_cluster_distance=2.0)
    assert cluster_vectors(vectors, loose).tolist() == [0] * 6 + [1] * 6
    impossible = ClusteringSettings(max_cluster_distance=1e-6)
    assert cluster_vectors(vectors, impossible).tolist() == [NOISE] * 12
    off = ClusteringSettings(max_cluster_distance=None)
    assert cluster_vectors(vectors, off).tolist() == [0] * 6 + [1] * 6

from __future__ import annotations

import numpy as np
import pytest

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE
from tests.stories.clustering.windows import ALGORITHMS, blobs


@pytest.mark.parametrize("params", ALGORITHMS, ids=["average", "hdbscan"])
def test_separate_groups_become_separate_clusters(params: ClusteringSettings) -> None:
    vectors = blobs([5, 4, 3])
    labels = cluster_vectors(vectors, params)
    assert labels.tolist() == [0] * 5 + [1] * 4 + [2] * 3


def test_labels_follow_first_member_and_are_deterministic() -> None:
    vectors = blobs([3, 6])[::-1].copy()
    first = cluster_vectors(vectors, ClusteringSettings())
    assert first.tolist() == [0] * 6 + [1] * 3
    assert cluster_vectors(vectors, ClusteringSettings()).tolist() == first.tolist()


@pytest.mark.parametrize("count", [0, 1], ids=["empty", "single"])
def test_too_few_articles_are_all_noise(count: int) -> None:
    labels = cluster_vectors(
        blobs([count]) if count else np.zeros((0, 8), np.float32), ClusteringSettings()
    )
    assert labels.tolist() == [NOISE] * count

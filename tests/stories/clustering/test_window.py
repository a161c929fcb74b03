from __future__ import annotations

import pytest

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from tests.stories.clustering.windows import SHOOTINGS, blobs


def test_texts_must_match_vectors() -> None:
    with pytest.raises(ValueError, match="one text per vector"):
        cluster_vectors(blobs([3]), ClusteringSettings(), SHOOTINGS)

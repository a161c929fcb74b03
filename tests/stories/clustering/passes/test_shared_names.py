from __future__ import annotations

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.clustering.window import ArticleText
from tests.stories.clustering.windows import ACCIDENTS, look_alike_vectors


def test_members_that_name_nothing_in_common_leave_the_cluster() -> None:
    """Six look-alike accidents join on vectors and topic words; names keep the two that
    were each reported twice and send the two reported once to noise."""
    vectors = look_alike_vectors()
    texts = [ArticleText("Child shoots himself", body) for body in ACCIDENTS]
    params = ClusteringSettings(lexical_weight=0.0, name_link_similarity=0.15)
    assert cluster_vectors(vectors, params, texts).tolist() == [0, 0, 1, 1, NOISE, NOISE]
    off = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None, event_split_ratio=None)
    assert cluster_vectors(vectors, off, texts).tolist() == [0] * 6

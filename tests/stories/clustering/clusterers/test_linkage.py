from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]
from scipy.spatial.distance import pdist  # type: ignore[import-untyped]

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE, canonical_labels
from pipeline.stories.clustering.window import ArticleText
from tests.stories.clustering.windows import SHOOTINGS, blobs, look_alike_vectors, pair_at


def test_words_tell_look_alike_events_apart() -> None:
    vectors = look_alike_vectors()
    assert cluster_vectors(vectors, ClusteringSettings()).tolist() == [0] * 6
    assert cluster_vectors(vectors, ClusteringSettings(), SHOOTINGS).tolist() == [0] * 3 + [1] * 3


def test_headlines_only_are_clustered_on_vectors_alone() -> None:
    vectors = look_alike_vectors()
    headlines = [ArticleText(text.title, "") for text in SHOOTINGS]
    assert cluster_vectors(vectors, ClusteringSettings(), headlines).tolist() == [0] * 6


def test_headlines_are_cut_looser_than_full_articles() -> None:
    """A headline's embedding is noisier than a headline and its lead: a pair at cosine
    distance 0.63 is one story as two headlines, two stories as two full articles."""
    vectors = pair_at(0.37)
    params = ClusteringSettings(lexical_weight=0.0)  # the embedding alone, for both
    headlines = [ArticleText("Ferry sinks off Bali", ""), ArticleText("Bali ferry lost", "")]
    body = "The ferry sank in rough seas near the island on Tuesday night. " * 12
    full = [ArticleText(text.title, body) for text in headlines]
    assert cluster_vectors(vectors, params, headlines).tolist() == [0, 0]
    assert cluster_vectors(vectors, params, full).tolist() == [NOISE, NOISE]
    same_cut = ClusteringSettings(lexical_weight=0.0, headline_link_slack=0.0)
    assert cluster_vectors(vectors, same_cut, headlines).tolist() == [NOISE, NOISE]


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9], ids=["tight", "default", "loose"])
def test_average_linkage_equals_the_dense_computation(cut: float) -> None:
    """Splitting the window into components first must not change the result."""
    vectors = blobs([8, 5, 7, 3, 6], spread=0.25, seed=11)
    params = ClusteringSettings(link_distance=cut, max_cluster_distance=2.0)
    dense = fcluster(
        linkage(pdist(vectors.astype(np.float64), "cosine"), method="average"),
        t=cut,
        criterion="distance",
    )
    sizes = np.bincount(dense)
    expected = canonical_labels(np.where(sizes[dense] >= 2, dense, NOISE).astype(np.int64))
    assert cluster_vectors(vectors, params).tolist() == expected.tolist()


def test_a_component_too_large_is_cut_into_pieces_that_fit() -> None:
    """Five groups bridged by weak pairs form one component; with room for 10 articles at
    a time the weakest pairs go first: no piece is larger, and no group is torn apart."""
    vectors = blobs([8, 5, 7, 3, 6], spread=0.05, seed=11)
    bridge = ClusteringSettings(link_distance=1.05, max_cluster_distance=2.0)  # every pair links
    assert cluster_vectors(vectors, bridge).tolist() == [0] * 29
    guarded = ClusteringSettings(link_distance=1.05, max_cluster_distance=2.0, max_component=10)
    labels = cluster_vectors(vectors, guarded)
    assert np.bincount(labels[labels != NOISE]).max() <= 10
    groups = np.repeat(np.arange(5), [8, 5, 7, 3, 6])
    assert all(len(set(labels[groups == group].tolist())) == 1 for group in range(5))
    assert len(set(labels.tolist())) >= 3
    assert cluster_vectors(vectors, guarded).tolist() == labels.tolist()


def test_keeping_few_neighbours_still_finds_tight_groups() -> None:
    vectors = blobs([8, 5, 7, 3, 6], spread=0.05, seed=11)
    expected = cluster_vectors(vectors, ClusteringSettings())
    assert (
        cluster_vectors(vectors, ClusteringSettings(max_neighbours=3)).tolist() == expected.tolist()
    )
    assert len(set(expected.tolist())) == 5

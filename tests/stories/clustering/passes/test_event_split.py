from __future__ import annotations

import pytest

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.window import ArticleText
from tests.stories.clustering.windows import CHILE, CHILE_RETOLD, NEPAL, look_alike_vectors


@pytest.mark.parametrize(
    ("bodies", "expected"),
    [
        (CHILE + NEPAL, [0] * 3 + [1] * 3),
        (CHILE + CHILE_RETOLD, [0] * 6),
    ],
    ids=["two-earthquakes-split", "one-earthquake-retold-stays-whole"],
)
def test_a_cluster_of_two_look_alike_events_splits_on_names(
    bodies: list[str], expected: list[int]
) -> None:
    """Vectors alone join all six (lexical weight 0); the names in the bodies decide."""
    vectors = look_alike_vectors()
    texts = [ArticleText("Earthquake", body) for body in bodies]
    params = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None)
    assert cluster_vectors(vectors, params, texts).tolist() == expected
    off = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None, event_split_ratio=None)
    assert cluster_vectors(vectors, off, texts).tolist() == [0] * 6


def test_headline_clusters_are_not_split_on_names() -> None:
    vectors = look_alike_vectors()
    texts = [ArticleText(body[:90], "") for body in CHILE + NEPAL]
    assert (
        cluster_vectors(vectors, ClusteringSettings(lexical_weight=0.0), texts).tolist() == [0] * 6
    )


def test_lead_sentence_titles_with_short_bodies_are_split_on_names() -> None:
    """Some sources give the lead sentence as the title and cut the body short: the title
    and body together have enough names to judge, though the body alone is brief."""
    vectors = look_alike_vectors()
    texts = [ArticleText(body[:200], body[200:350]) for body in CHILE + NEPAL]
    params = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None)
    assert all(len(text.body) / params.lexical_full_body_chars < 0.5 for text in texts)
    assert cluster_vectors(vectors, params, texts).tolist() == [0] * 3 + [1] * 3

from __future__ import annotations

import pytest

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.window import ArticleText
from tests.stories.clustering.windows import BODIES, CRIMEA, SEARCH, broad_story_vectors


@pytest.mark.parametrize(
    ("titles", "bodies", "expected"),
    [
        (SEARCH + SEARCH[::-1], ("", ""), [0] * 12),
        (SEARCH + CRIMEA, ("", ""), [0] * 6 + [1] * 6),
        (SEARCH + SEARCH[::-1], BODIES, [0] * 6 + [1] * 6),
    ],
    ids=["headlines-sharing-names-join", "headlines-without-shared-names", "bodies-left-alone"],
)
def test_second_pass_joins_headline_clusters_of_one_story(
    titles: list[str], bodies: tuple[str, str], expected: list[int]
) -> None:
    vectors = broad_story_vectors()
    texts = [ArticleText(title, bodies[row // 6]) for row, title in enumerate(titles)]
    assert cluster_vectors(
        vectors, ClusteringSettings(headline_merge_similarity=None), texts
    ).tolist() == ([0] * 6 + [1] * 6)
    assert cluster_vectors(vectors, ClusteringSettings(), texts).tolist() == expected

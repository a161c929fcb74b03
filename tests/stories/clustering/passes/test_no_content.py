from __future__ import annotations

import numpy as np

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.clustering.passes.no_content import drop_contentless
from pipeline.stories.clustering.window import ArticleText, Window
from tests.factories import direction, near


def test_articles_that_say_nothing_join_no_cluster() -> None:
    # Four unrelated pages scraped as "en" with no text share one vector; two reports of a
    # quake beside them.
    placeholder, quake = direction(1), direction(2)
    vectors = np.stack([placeholder] * 4 + [near(quake, 1), near(quake, 2)])
    texts = [ArticleText("en", "")] * 4 + [
        ArticleText("Quake hits Iquique in northern Chile", ""),
        ArticleText("Iquique quake: Chile counts the damage", ""),
    ]
    labels = cluster_vectors(vectors, ClusteringSettings(), texts).tolist()
    assert labels[:4] == [NOISE] * 4
    assert labels[4] == labels[5] != NOISE
    # Without texts there is nothing to judge by: the labels stay.
    window = Window(vectors, None, ClusteringSettings())
    kept = np.array([0, 0, 0, 0, 1, 1])
    assert drop_contentless(window, kept).tolist() == kept.tolist()


def test_a_placeholder_title_over_a_body_is_kept() -> None:
    vectors = np.stack([direction(1), direction(1)])
    texts = [ArticleText("en", "Two killed as quake hits Iquique in Chile.")] * 2
    window = Window(vectors, texts, ClusteringSettings())
    assert drop_contentless(window, np.array([0, 0])).tolist() == [0, 0]

"""The neighbour graph: every pair scored below ``exact_graph_below``, candidate pairs from
the approximate index above; both must agree where the index has candidates to spare."""

import numpy as np
import pytest
from scipy import sparse  # type: ignore[import-untyped]

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.clusterers.neighbours import neighbour_graph
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.clustering.window import ArticleText, Window
from tests.stories.clustering.windows import blobs

EXACT, APPROXIMATE = 1_000_000, 0


def dense_window(count: int = 300, seed: int = 3) -> tuple[np.ndarray, list[ArticleText]]:
    """Groups of 15 articles, each group with words of its own, half full articles and half
    bare headlines, so the word mix and the headline cut both rank a group's pairs."""
    rng = np.random.default_rng(seed)
    vectors = blobs([15] * (count // 15), spread=0.1, seed=seed)
    texts = []
    for index in range(count):
        vocabulary = [f"group{index // 15}word{i}" for i in range(30)]
        body = " ".join(rng.choice(vocabulary, 120)) if index % 2 else ""
        texts.append(ArticleText(" ".join(rng.choice(vocabulary, 4)), body))
    return vectors, texts


def graph(
    vectors: np.ndarray, texts: list[ArticleText] | None, below: int, neighbours: int = 10
) -> sparse.csr_matrix:
    params = ClusteringSettings(max_neighbours=neighbours, exact_graph_below=below)
    return neighbour_graph(Window(vectors, texts, params))


@pytest.mark.parametrize("with_texts", [True, False], ids=["texts", "vectors-only"])
def test_approximate_graph_equals_the_exact_graph_on_a_small_dense_window(
    with_texts: bool,
) -> None:
    """With candidates to spare (20, and 14 others in a group), the index finds every pair
    the exact graph keeps, and each kept pair has the exact graph's weight."""
    vectors, texts = dense_window()
    read = texts if with_texts else None
    exact = graph(vectors, read, EXACT)
    approximate = graph(vectors, read, APPROXIMATE)
    assert exact.nnz > 10 * len(vectors)  # dense: the cap on neighbours binds
    assert (exact != 0).toarray().tolist() == (approximate != 0).toarray().tolist()
    np.testing.assert_allclose(approximate.toarray(), exact.toarray(), rtol=0, atol=1e-6)


def test_small_windows_take_the_exact_graph() -> None:
    vectors, texts = dense_window()
    assert len(vectors) < ClusteringSettings().exact_graph_below
    default = neighbour_graph(Window(vectors, texts, ClusteringSettings(max_neighbours=10)))
    assert (default != graph(vectors, texts, EXACT)).nnz == 0
    assert (default != graph(vectors, texts, APPROXIMATE)).nnz > 0  # not the same computation


def test_approximate_graph_and_labels_are_the_same_across_runs() -> None:
    vectors, texts = dense_window(count=600, seed=5)
    first, second = graph(vectors, texts, APPROXIMATE), graph(vectors, texts, APPROXIMATE)
    assert first.indices.tolist() == second.indices.tolist()
    assert first.data.tolist() == second.data.tolist()
    params = ClusteringSettings(max_neighbours=10, exact_graph_below=APPROXIMATE)
    labels = [cluster_vectors(vectors, params, texts) for _ in range(2)]
    assert labels[0].tolist() == labels[1].tolist()


def test_approximate_graph_is_the_same_on_one_thread_and_on_all() -> None:
    """The IVF index is trained from a fixed seed and each query is searched on its own, so
    the number of threads cannot change the candidates (HNSW's parallel build would)."""
    import faiss

    vectors, texts = dense_window(count=600, seed=5)
    threads = faiss.omp_get_max_threads()
    graphs = []
    for count in (1, max(threads, 2)):
        faiss.omp_set_num_threads(count)
        try:
            graphs.append(graph(vectors, texts, APPROXIMATE))
        finally:
            faiss.omp_set_num_threads(threads)
    assert graphs[0].indices.tolist() == graphs[1].indices.tolist()
    assert graphs[0].data.tolist() == graphs[1].data.tolist()


@pytest.mark.parametrize("with_texts", [True, False], ids=["texts", "vectors-only"])
def test_approximate_graph_clusters_as_the_exact_graph(with_texts: bool) -> None:
    vectors, texts = dense_window(count=900, seed=9)
    read = texts if with_texts else None
    exact = cluster_vectors(
        vectors, ClusteringSettings(max_neighbours=10, exact_graph_below=EXACT), read
    )
    approximate = cluster_vectors(
        vectors, ClusteringSettings(max_neighbours=10, exact_graph_below=APPROXIMATE), read
    )
    assert approximate.tolist() == exact.tolist()
    assert len(set(exact.tolist()) - {NOISE}) >= 30

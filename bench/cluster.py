"""Clustering time and memory as the window grows.

    .venv/bin/python -m bench.cluster [--sizes 2000,10000,50000] [--seeds 2000]
        [--corpus PATH.jsonl] [--compare] [--exact-max 50000] [--kinds synthetic,...]

Three kinds of window, each timed through ``cluster_vectors`` with the default parameters
as the cluster stage calls it; the first two without texts (the word similarity plays no
part):

- ``synthetic``: unit vectors in 384 dimensions, 80 % in stories of 2-60 articles around
  a random topic direction, 20 % unrelated singletons. Stories this far apart never touch,
  so the similarity graph falls into small components: the easy case.
- ``real-density``: the first ``--seeds`` headlines of ``--corpus`` (the UCI dev corpus,
  ``../shared/datasets/uci-2014-03.jsonl``) embedded with the configured model, and the
  window made of jittered copies of their vectors (cosine about 0.9 to the original).
  Real news is dense: at the default cut one connected component holds ~99 % of a window
  of many topics, which is what the neighbour cap and the component guard are for.
- ``headlines``: the same vectors with their seeds' headlines as texts, so every pass a
  real headline window runs (the looser headline cut, the headline merge) runs too.

The first size of each kind is the baseline for its ratios; peak memory is traced with
tracemalloc (numpy reports its buffers to it; faiss's own buffers it does not see), and
"RSS +MiB" is how far the process's resident memory rose above where it stood while
``cluster_vectors`` ran (sampled every 10 ms), which counts faiss's buffers and the
allocator's slack too, and not the embedding model or the window's own vectors; "max RSS"
is the process's resident high-water mark so far (``ru_maxrss``, which counts
them, and the embedding model).

``--compare`` also builds the neighbour graph both ways, every pair scored (exact) and
candidate pairs from the index (approximate), whatever the size, and prints them side by
side: seconds and peak MiB of each, and the recall of the exact graph's edges in the
approximate one (and the approximate graph's edges the exact one lacks, "extra"). The
exact graph is quadratic, so sizes above ``--exact-max`` skip it.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from pipeline.errors import ConfigError
from pipeline.evaluate import load_corpus
from pipeline.settings import MAX_COUNT, ClusteringSettings, Settings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.clusterers.neighbours import neighbour_graph
from pipeline.stories.clustering.window import ArticleText, Window

UCI = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "uci-2014-03.jsonl"


def window(size: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows: list[np.ndarray] = []
    clustered = int(size * 0.8)
    while sum(len(r) for r in rows) < clustered:
        center = rng.normal(size=dim)
        center /= np.linalg.norm(center)
        members = int(rng.integers(2, 60))
        rows.append(center + rng.normal(scale=0.6 / np.sqrt(dim), size=(members, dim)) * 1.5)
    noise = rng.normal(size=(size - sum(len(r) for r in rows), dim))
    vectors = np.vstack([*rows, noise])[:size]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors[rng.permutation(size)].astype(np.float32)


def real_density_window(
    seeds: np.ndarray, size: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` vectors: the seed vectors, then jittered copies of them (cosine ~0.9); and
    for each, the seed it was copied from."""
    rng = np.random.default_rng(seed)
    picks = np.concatenate([np.arange(len(seeds)), rng.integers(0, len(seeds), size)])[:size]
    dim = seeds.shape[1]
    noise = rng.normal(scale=0.5 / np.sqrt(dim), size=(size, dim))
    noise[: len(seeds)] = 0.0
    vectors: np.ndarray = seeds[picks] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    order = rng.permutation(size)
    return vectors[order].astype(np.float32), picks[order]


def embed_seeds(settings: Settings, corpus: Path, count: int) -> tuple[np.ndarray, list[str]]:
    from pipeline.embed.backends import load_embedder

    titles = [article.title for article in load_corpus(corpus)[:count]]
    vectors: np.ndarray = load_embedder(settings.model_name, settings.hf_offline).encode(titles)
    return vectors, titles


class RssRise:
    """How far the process's resident memory rises above where it stood while the block
    runs, at its highest (MiB), sampled every 10 ms on a thread."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._base = self._peak = 0

    def _rss(self) -> int:
        return int(self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self._peak = max(self._peak, self._rss())

    def __enter__(self) -> RssRise:
        self._base = self._peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._rss())

    @property
    def mib(self) -> float:
        return (self._peak - self._base) / 2**20


def measure(
    vectors: np.ndarray, params: ClusteringSettings, texts: list[ArticleText] | None = None
) -> tuple[float, float, float, np.ndarray]:
    """Seconds, traced peak MiB, RSS rise MiB and the labels of one clustering."""
    tracemalloc.start()
    started = time.perf_counter()
    with RssRise() as rss:
        labels = cluster_vectors(vectors, params, texts)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, rss.mib, labels


def measure_graph(
    vectors: np.ndarray, params: ClusteringSettings, texts: list[ArticleText] | None, exact: bool
) -> tuple[float, float, sparse.csr_matrix]:
    """Seconds, peak MiB and the neighbour graph, exact or from candidates."""
    tracemalloc.start()
    started = time.perf_counter()
    below = MAX_COUNT + 1 if exact else 0
    graph = neighbour_graph(
        Window(vectors, texts, params.model_copy(update={"exact_graph_below": below}))
    )
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, graph


def compare(
    kind: str,
    vectors: np.ndarray,
    params: ClusteringSettings,
    texts: list[ArticleText] | None,
    exact_max: int,
) -> str:
    """The exact and approximate graph of one window, side by side, as one table row."""
    size = vectors.shape[0]
    approx_s, approx_mib, approx = measure_graph(vectors, params, texts, exact=False)
    if size > exact_max:
        return f"{kind:>12} {size:9d} {'-':>8} {'-':>8} {approx_s:8.2f} {approx_mib:8.0f}"
    exact_s, exact_mib, edges = measure_graph(vectors, params, texts, exact=True)
    # Edges as sparse patterns: a Python set of 20 M pairs would itself take gigabytes.
    common = edges.multiply(approx != 0).nnz
    recall = common / max(edges.nnz, 1)
    return (
        f"{kind:>12} {size:9d} {exact_s:8.2f} {exact_mib:8.0f} {approx_s:8.2f} {approx_mib:8.0f} "
        f"{recall:8.4f} {approx.nnz - common:8d} {exact_s / approx_s:7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2000,10000,50000")
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, default=UCI, help="headlines for real-density")
    parser.add_argument("--compare", action="store_true", help="exact against approximate graph")
    parser.add_argument("--exact-max", type=int, default=50000, help="largest exact graph")
    parser.add_argument("--kinds", default="synthetic,real-density,headlines")
    args = parser.parse_args()
    settings = Settings.load()
    params = settings.clustering
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"clustering benchmark, default parameters: {params}")
    seeds, titles = embed_seeds(settings, args.corpus, args.seeds)
    print(
        f"{'window':>12} {'articles':>9} {'seconds':>9} {'peak MiB':>9} {'clusters':>9} "
        f"{'noise':>7} {'x first':>8} {'RSS +MiB':>9} {'max RSS':>8}"
    )
    rows: list[str] = []
    for kind in args.kinds.split(","):
        first = None
        for size in sizes:
            texts = None
            if kind == "synthetic":
                vectors = window(size)
            else:
                vectors, picks = real_density_window(seeds, size)
                if kind == "headlines":
                    texts = [ArticleText(titles[pick], "") for pick in picks]
            seconds, peak, rise, labels = measure(vectors, params, texts)
            first = first or seconds
            clusters, noise = labels.max() + 1, (labels == -1).sum()
            print(
                f"{kind:>12} {size:9d} {seconds:9.2f} {peak:9.0f} {clusters:9d} {noise:7d} "
                f"{seconds / first:8.2f} {rise:9.0f} "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:8.0f}",
                flush=True,
            )
            if args.compare:
                rows.append(compare(kind, vectors, params, texts, args.exact_max))
    if rows:
        print("\nneighbour graph, every pair scored (exact) against candidate pairs (approx):")
        print(
            f"{'window':>12} {'articles':>9} {'exact s':>8} {'MiB':>8} {'approx s':>8} "
            f"{'MiB':>8} {'recall':>8} {'extra':>8} {'speedup':>7}"
        )
        print("\n".join(rows))


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:  # a missing or malformed corpus: one line, no traceback
        raise SystemExit(f"bench.cluster: {exc}") from None

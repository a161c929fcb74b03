"""Clustering time as the window grows.

    .venv/bin/python -m bench.cluster [--sizes 2000,10000,50000]

Synthetic windows shaped like news: unit vectors in 384 dimensions, 80 % of them in stories
of 2-60 articles spread around a topic direction, 20 % unrelated singletons, published over
72 hours, without texts (so the word similarity plays no part). Each size is timed through
``cluster_vectors`` with the default parameters, as the cluster stage calls it; the first
size is the baseline for the ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pipeline.cluster import params_from
from pipeline.clustering import cluster_vectors
from pipeline.settings import Settings


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2000,10000,50000")
    args = parser.parse_args()
    params = params_from(Settings.load())
    print(f"clustering benchmark: synthetic 384-d windows, {params}")
    print(f"{'articles':>9} {'seconds':>9} {'clusters':>9} {'noise':>7} {'x first':>8}")
    first = None
    for size in (int(s) for s in args.sizes.split(",")):
        vectors = window(size)
        started = time.perf_counter()
        labels = cluster_vectors(vectors, params)
        seconds = time.perf_counter() - started
        first = first or seconds
        clusters, noise = labels.max() + 1, (labels == -1).sum()
        print(f"{size:9d} {seconds:9.2f} {clusters:9d} {noise:7d} {seconds / first:8.2f}")


if __name__ == "__main__":
    main()

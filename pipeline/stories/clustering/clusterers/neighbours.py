"""The neighbour graph of a window: which pairs of articles are close enough to link.

A pair's similarity blends the cosine of its embeddings with the cosine of its words, and is
rescaled so that one cut at ``link_distance`` serves every pair (``similarity``). The graph
keeps, for each article, its ``max_neighbours`` most similar pairs within the cut.

Below ``exact_graph_below`` articles every pair is scored, in row blocks; above, only each
article's nearest by embedding, found by an approximate nearest-neighbour index (faiss
IVF-Flat), are scored with the same blend, so the cost grows about linearly with the window
instead of with its square (``bench.cluster --compare`` prints the two side by side).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from pipeline.stories.clustering.window import Window

_BLOCK_CELLS = 16_000_000
"""Cells of the similarity matrix computed at once (rows x window), ~128 MB per float64
array: bounds the memory of the graph's construction whatever the window's size."""

CANDIDATE_FACTOR = 2
"""Candidates per article, in multiples of ``max_neighbours``, for the approximate graph.
The candidates are the nearest by embedding, but the blended similarity can rank a pair
higher than its embedding cosine does (the words agree), and the index misses a few true
neighbours; taking more than are kept lets those still reach the kept ones (recall of the
exact graph's edges 0.9989 at 50,000 articles)."""
_IVF_LISTS_PER_ROOT = 4
"""Lists of the IVF index per square root of the window's size (1,000 at 62,500 articles):
more lists are faster to search at a given recall but slower to train; about ``4 * sqrt(n)``
balances the two (measured with ``bench.cluster``)."""
_IVF_PROBES = 24
"""Lists each article's candidates are read from: recall of the exact graph's edges 0.9989
at 50,000 real-density articles (16: 0.9964, 8: 0.976; 32: 0.9996 but a third slower)."""
_IVF_TRAIN_POINTS = 32
"""Training articles per list (faiss's ``max_points_per_centroid``): k-means on a fixed-seed
sample of this many per list places the lists well enough, at a fraction of the cost of
training on the window (about 2 s instead of 6 s at 50,000 articles)."""
_IVF_TRAIN_ROUNDS = 10
"""k-means iterations of the IVF training: the lists need not be optimal, only near."""
_IVF_SEED = 1234
"""Seed of the training sample and the k-means start: the same window, the same lists."""
_PAIR_BLOCK_ROWS = 256
"""Rows of candidate pairs scored at once: bounds the gather of their TF-IDF rows (rows x
candidates x words per text, ~100 MB for full articles at 200 candidates)."""

Rows = slice | npt.NDArray[np.int64]


def similarity(window: Window, rows: Rows, cols: Rows) -> npt.NDArray[np.float64]:
    """Blended similarity of ``rows`` against ``cols`` (dense), on the scale of the cut at
    ``link_distance``.

    A pair's words count by its shorter body (``Words.weight``). Its cut moves with its
    shorter text (title and body, ``Window.text_share``): two full articles are cut at
    ``link_distance``, two bare headlines ``headline_link_slack`` farther, linearly between.
    The embedding of a headline alone is noisier than of a headline and its lead, so the
    headlines of one story sit farther apart. The distance is rescaled (``link_distance /
    cut``) so that one linkage cut serves every pair.
    """
    left = window.unit(rows)
    return _similarity(window, left, left if cols is rows else window.unit(cols), rows, cols)


def _similarity(
    window: Window,
    left: npt.NDArray[np.float64],
    right: npt.NDArray[np.float64],
    rows: Rows,
    cols: Rows,
) -> npt.NDArray[np.float64]:
    """``similarity`` with the float64 unit vectors of ``rows`` and ``cols`` given, so a
    caller scoring many blocks against one set of columns converts them once."""
    params, words, share = window.params, window.words, window.text_share
    cosine = left @ right.T
    lexical = mix = shorter = None
    if words.weight[rows].any():  # else headlines only: no word share to mix
        lexical = (words.tfidf[rows] @ words.tfidf[cols].T).toarray()
        mix = np.minimum(words.weight[rows][:, None], words.weight[cols][None, :])
    # Only where some text is short: full articles are cut at link_distance as they are.
    if params.headline_link_slack and min(share[rows].min(), share[cols].min()) < 1:
        shorter = np.minimum(share[rows][:, None], share[cols][None, :])
    return _blend(window, cosine, lexical, mix, shorter)


def _pair_similarity(
    window: Window,
    cosine: npt.NDArray[np.float32],
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """``similarity`` of each row against its own columns only: ``rows`` (n,) and ``cols``
    (n, k), with the pairs' embedding ``cosine`` (n, k), give an (n, k) array.

    The cosines come from the index (float32, as it computed them): gathering the vectors
    of every candidate pair again costs more than the rest of the graph, and the graph
    stores its weights in float32 anyway, so a weight differs from the exact graph's by at
    most a unit in its last place."""
    params, words, share = window.params, window.words, window.text_share
    blended = cosine.astype(np.float64)
    lexical = mix = shorter = None
    if words.weight[rows].any():
        flat = words.tfidf[np.repeat(rows, cols.shape[1])].multiply(words.tfidf[cols.ravel()])
        lexical = np.asarray(flat.sum(axis=1)).reshape(cols.shape)
        mix = np.minimum(words.weight[rows][:, None], words.weight[cols])
    # The condition the row blocks of the exact graph meet (every column is in each block),
    # so both graphs rescale the same pairs.
    if params.headline_link_slack and share.min() < 1:
        shorter = np.minimum(share[rows][:, None], share[cols])
    return _blend(window, blended, lexical, mix, shorter)


def _blend(
    window: Window,
    cosine: npt.NDArray[np.float64],
    lexical: npt.NDArray[np.float64] | None,
    mix: npt.NDArray[np.float64] | None,
    shorter: npt.NDArray[np.float64] | None,
) -> npt.NDArray[np.float64]:
    """Embedding cosines mixed with word cosines by ``mix``, then rescaled by the cut of
    each pair's ``shorter`` text share."""
    params = window.params
    if lexical is not None and mix is not None:
        cosine = (1 - mix) * cosine + mix * lexical
    if shorter is not None:
        cut = 1.0 - shorter
        cut *= params.headline_link_slack
        cut += params.link_distance
        # 1 - (1 - similarity) * link_distance / cut, in place: blocks are large.
        np.subtract(1.0, cosine, out=cosine)
        cosine *= params.link_distance
        cosine /= cut
        np.subtract(1.0, cosine, out=cosine)
    return np.asarray(cosine)


def neighbour_graph(window: Window) -> sparse.csr_matrix:
    """Symmetric graph of (rescaled) blended similarities within the cut, each row's
    ``max_neighbours`` largest; stored as similarity + 2, so every kept pair has a positive
    weight.

    Below ``exact_graph_below`` articles every pair is scored;
    above, only each article's ``CANDIDATE_FACTOR * max_neighbours`` nearest by embedding
    (``_candidates``), with the same blend (``_pair_similarity``), so a pair the graph keeps
    has the weight the exact graph gives it, to float32 rounding."""
    count = window.count
    candidates = CANDIDATE_FACTOR * window.params.max_neighbours
    if count < window.params.exact_graph_below or candidates >= count - 1:
        return _exact_graph(window)
    return _approximate_graph(window, candidates)


def _exact_graph(window: Window) -> sparse.csr_matrix:
    count = window.count
    least, keep = 1.0 - window.params.link_distance, window.params.max_neighbours
    sources: list[npt.NDArray[np.int64]] = []
    targets: list[npt.NDArray[np.int64]] = []
    weights: list[npt.NDArray[np.float32]] = []
    block = max(16, _BLOCK_CELLS // max(count, 1))
    every = window.unit()
    for start in range(0, count, block):
        stop = min(start + block, count)
        rows = slice(start, stop)
        scores = _similarity(window, every[rows], every, rows, slice(None))
        scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        if keep < count - 1:
            # Below each row's keep-th largest value, pairs are dropped; ties are kept.
            kth = -np.partition(-scores, keep - 1, axis=1)[:, keep - 1 : keep]
            scores[scores < kth] = -np.inf
        row, col = np.nonzero(scores >= least)
        sources.append(row.astype(np.int64) + start)
        targets.append(col.astype(np.int64))
        weights.append((scores[row, col] + 2.0).astype(np.float32))
    return _symmetric(sources, targets, weights, count)


def _approximate_graph(window: Window, candidates: int) -> sparse.csr_matrix:
    """``_exact_graph`` over each row's ``candidates`` nearest by embedding only."""
    count = window.count
    least, keep = 1.0 - window.params.link_distance, window.params.max_neighbours
    sources: list[npt.NDArray[np.int64]] = []
    targets: list[npt.NDArray[np.int64]] = []
    weights: list[npt.NDArray[np.float32]] = []
    nearest, cosine = _candidates(window.unit32, candidates)
    for start in range(0, count, _PAIR_BLOCK_ROWS):
        rows = np.arange(start, min(start + _PAIR_BLOCK_ROWS, count), dtype=np.int64)
        cols = nearest[rows]
        missing = (cols < 0) | (cols == rows[:, None])  # padding, or the row itself
        cols = np.where(missing, rows[:, None], cols)
        scores = _pair_similarity(window, cosine[rows], rows, cols)
        scores[missing] = -np.inf
        # As in the exact graph: below each row's keep-th largest value, pairs are dropped.
        kth = -np.partition(-scores, keep - 1, axis=1)[:, keep - 1 : keep]
        scores[scores < kth] = -np.inf
        row, col = np.nonzero(scores >= least)
        sources.append(rows[row])
        targets.append(cols[row, col])
        weights.append((scores[row, col] + 2.0).astype(np.float32))
    del nearest, cosine  # 480 MB at 200,000 articles, not needed while the graph is built
    return _symmetric(sources, targets, weights, count)


def _candidates(
    unit: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's ``k + 1`` (about) nearest rows by embedding cosine (itself among them; -1
    where fewer are found) and their cosines, from a faiss IVF-Flat index (inner product):
    ``_IVF_LISTS_PER_ROOT * sqrt(n)`` lists placed by spherical k-means, each row's
    candidates read from its ``_IVF_PROBES`` nearest lists, scored exactly.

    Deterministic on every thread: the training sample and the k-means start come from a
    fixed seed, each k-means step (assignment by matrix product, means per list) gives the
    same result however the work is split, and each query is searched on its own. (An HNSW
    graph, by contrast, depends on the order in which threads insert, so it would have to
    be built on one thread, and on a high-dimensional window its search is several times
    slower.)"""
    import faiss

    vectors = np.ascontiguousarray(unit, dtype=np.float32)
    count, dim = vectors.shape
    lists = max(1, min(round(_IVF_LISTS_PER_ROOT * np.sqrt(count)), count // 4))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = _IVF_TRAIN_ROUNDS
    index.cp.seed = _IVF_SEED
    index.cp.spherical = True  # unit centroids: a list's centre by cosine, as the rows
    index.cp.max_points_per_centroid = _IVF_TRAIN_POINTS
    index.cp.min_points_per_centroid = 1  # a small window trains without a warning
    index.train(vectors)
    index.add(vectors)
    index.nprobe = min(_IVF_PROBES, lists)
    cosine, nearest = index.search(vectors, k + 1)  # + 1: a row finds itself
    return np.asarray(nearest, dtype=np.int64), np.asarray(cosine, dtype=np.float32)


def _symmetric(
    sources: list[npt.NDArray[np.int64]],
    targets: list[npt.NDArray[np.int64]],
    weights: list[npt.NDArray[np.float32]],
    count: int,
) -> sparse.csr_matrix:
    """The kept pairs as a graph, a pair kept by either end kept both ways. Empties the
    lists as it joins them, so the blocks (400 MB at 200,000 articles) and their join are
    not held at once."""
    source, target = np.concatenate(sources), np.concatenate(targets)
    sources.clear()
    targets.clear()
    weight = np.concatenate(weights)
    weights.clear()
    graph = sparse.csr_matrix((weight, (source, target)), shape=(count, count), dtype=np.float32)
    del source, target, weight
    return sparse.csr_matrix(graph.maximum(graph.T))

"""The neighbour graph of a window: which pairs of articles are close enough to link.

A pair's similarity blends the cosine of its embeddings with the cosine of its words, and is
rescaled so that one cut at ``link_distance`` serves every pair (``similarity``). The graph
keeps, for each article, its ``max_neighbours`` most similar pairs within the cut.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from pipeline.stories.clustering.window import Window

_BLOCK_CELLS = 16_000_000
"""Cells of the similarity matrix computed at once (rows x window), ~128 MB per float64
array: bounds the memory of the graph's construction whatever the window's size."""

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
    params, unit, words, share = window.params, window.unit, window.words, window.text_share
    cosine = unit[rows] @ unit[cols].T
    lexical = mix = shorter = None
    if words.weight[rows].any():  # else headlines only: no word share to mix
        lexical = (words.tfidf[rows] @ words.tfidf[cols].T).toarray()
        mix = np.minimum(words.weight[rows][:, None], words.weight[cols][None, :])
    # Only where some text is short: full articles are cut at link_distance as they are.
    if params.headline_link_slack and min(share[rows].min(), share[cols].min()) < 1:
        shorter = np.minimum(share[rows][:, None], share[cols][None, :])
    return _blend(window, cosine, lexical, mix, shorter)


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
    weight. Every pair is scored, in row blocks."""
    count = window.count
    least, keep = 1.0 - window.params.link_distance, window.params.max_neighbours
    sources: list[npt.NDArray[np.int64]] = []
    targets: list[npt.NDArray[np.int64]] = []
    weights: list[npt.NDArray[np.float32]] = []
    block = max(16, _BLOCK_CELLS // max(count, 1))
    for start in range(0, count, block):
        stop = min(start + block, count)
        scores = similarity(window, slice(start, stop), slice(None))
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


def _symmetric(
    sources: list[npt.NDArray[np.int64]],
    targets: list[npt.NDArray[np.int64]],
    weights: list[npt.NDArray[np.float32]],
    count: int,
) -> sparse.csr_matrix:
    """The kept pairs as a graph, a pair kept by either end kept both ways."""
    source, target = np.concatenate(sources), np.concatenate(targets)
    graph = sparse.csr_matrix(
        (np.concatenate(weights), (source, target)), shape=(count, count), dtype=np.float32
    )
    return sparse.csr_matrix(graph.maximum(graph.T))

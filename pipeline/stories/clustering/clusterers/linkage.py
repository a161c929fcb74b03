"""Average linkage (the default clusterer): groups merge while their mean blended distance
stays below ``link_distance``, computed per connected piece of the neighbour graph."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from pipeline.stories.clustering.clusterers.neighbours import neighbour_graph, similarity
from pipeline.stories.clustering.labels import NOISE, Labels, groups
from pipeline.stories.clustering.window import Window


def average_linkage(window: Window) -> Labels:
    """Average linkage cut at ``link_distance`` without an n x n matrix.

    Two groups merge only if their mean similarity reaches the cut, so at least one pair
    across them does: every final cluster lies inside one connected component of the graph
    of pairs at least that similar (``neighbour_graph``). The dense linkage then runs per
    component, so cost follows the largest component, not the window. That is exact while
    each article keeps all its close pairs and each component fits in ``max_component``
    articles. Real news is denser than that: in a window of many topics one component holds
    nearly every article (99 % of the dev corpora at the default cut), and a dense linkage on
    50,000 articles needs tens of GB. So each article keeps only its ``max_neighbours`` most
    similar pairs, and a component larger than ``max_component`` is cut by raising the
    similarity its pairs need until every piece fits (see ``_pieces``); the linkage then runs
    per piece, an approximation only where a window is that dense.
    """
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]
    from scipy.spatial.distance import squareform  # type: ignore[import-untyped]

    params, count = window.params, window.count
    graph = neighbour_graph(window)
    labels = np.full(count, NOISE, dtype=np.int64)
    next_label = 0
    for members in _pieces(graph, np.arange(count), params.max_component):
        if members.shape[0] < 2:
            continue
        # The same values as 1 - s, (d + d.T) / 2, clipped, in place and condensed by
        # squareform (the upper triangle row by row, as triu_indices): a piece of 5,000
        # holds 25 M pairs, and each copy and the 12.5 M index pairs cost more than the
        # linkage itself.
        distance = similarity(window, members, members)
        np.subtract(1.0, distance, out=distance)
        distance = distance + distance.T
        distance /= 2
        np.clip(distance, 0.0, 2.0, out=distance)
        np.fill_diagonal(distance, 0.0)
        condensed = squareform(distance, checks=False)
        del distance
        tree = linkage(condensed, method="average")
        cut = fcluster(tree, t=params.link_distance, criterion="distance").astype(np.int64)
        labels[members] = cut + next_label
        next_label += int(cut.max()) + 1
    sizes = np.bincount(labels[labels != NOISE], minlength=max(next_label, 1))
    small = (labels != NOISE) & (sizes[np.maximum(labels, 0)] < params.min_cluster_size)
    labels[small] = NOISE
    return labels


def _pieces(
    graph: sparse.csr_matrix, members: npt.NDArray[np.int64], largest: int
) -> list[npt.NDArray[np.int64]]:
    """Connected components of ``graph`` over ``members``, in order of their first member;
    one larger than ``largest`` is split by dropping its weakest pairs, step by step (its
    pairs' similarity quantiles), until every piece fits."""
    from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

    whole = members.shape[0] == graph.shape[0] and bool(
        (members == np.arange(graph.shape[0])).all()
    )
    sub = graph if whole else graph[members][:, members]  # every row: no copy to take
    _, component = connected_components(sub, directed=False)
    out: list[npt.NDArray[np.int64]] = []
    for group in groups(component):
        if group.shape[0] <= largest:
            out.append(members[group])
            continue
        inner = sparse.csr_matrix(sub[group][:, group])
        # Drop the weakest tenth of its pairs (at least those of the weakest value).
        floor = float(np.quantile(inner.data, 0.1))
        inner.data[inner.data <= floor] = 0
        inner.eliminate_zeros()
        out.extend(
            members[group][piece] for piece in _pieces(inner, np.arange(group.shape[0]), largest)
        )
    return sorted(out, key=lambda piece: int(piece[0]))

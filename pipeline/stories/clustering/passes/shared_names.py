"""Shared names: a full-article cluster keeps together only the members that name the same
things.

Reports of one event name its place, its people, its numbers; reports of look-alike events
(three children shot by accident in three towns) share the topic's words and little else.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse  # type: ignore[import-untyped]

from pipeline.stories.clustering.labels import NOISE, Labels, groups, members_of
from pipeline.stories.clustering.window import Window


def require_shared_names(window: Window, labels: Labels) -> Labels:
    """Split each full-article cluster into the groups of members linked by their names.

    Two members are linked when the TF-IDF cosine of their names (``Window.names``:
    capitalised words and numbers, IDF from the window, so a name in every article weighs
    little) is at least ``name_link_similarity``; each connected group of linked members
    becomes a cluster (the first keeps the label), and a member linked to none becomes
    noise, free to be attached to a story later. Clusters of headlines are left alone: a
    headline names too little to be judged this way.
    """
    params = window.params
    least = params.name_link_similarity
    full = [m for m in members_of(labels).values() if not window.is_headlines(m)]
    if least is None or not full:  # headlines only: no name to read
        return labels
    matrix = window.names
    if matrix is None:
        return labels
    from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

    out = labels.copy()
    next_label = int(labels.max()) + 1
    for members in full:
        linked = (matrix[members] @ matrix[members].T).toarray() >= least
        np.fill_diagonal(linked, False)
        _, part = connected_components(sparse.csr_matrix(linked), directed=False)
        for index, group in enumerate(groups(part)):
            if group.shape[0] < max(params.min_cluster_size, 2):
                out[members[group]] = NOISE
            elif index > 0:
                out[members[group]] = next_label
                next_label += 1
    return out

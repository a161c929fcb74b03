"""Spread cap: how far from the rest of its story an article may sit.

Run after the clusterer and again after the other passes: members farther than
``max_cluster_distance`` (cosine) from the centroid of the rest become noise, which caps how
far a story can spread, whatever chained it together; a cluster left smaller than
``min_cluster_size`` becomes noise.
"""

from __future__ import annotations

import numpy as np

from pipeline.stories.clustering.labels import NOISE, Labels, members_of
from pipeline.stories.clustering.window import Window


def cap_spread(window: Window, labels: Labels) -> Labels:
    """Drop members whose cosine distance to the rest of their cluster exceeds the cap.

    The distance is to the centroid of the *other* members: in a small cluster an outlier
    pulls the plain centroid towards itself and would hide.
    """
    params, cap = window.params, window.params.max_cluster_distance
    if cap is None:
        return labels
    out = labels.copy()
    for label, members in members_of(labels).items():
        unit = window.unit(members)
        total = unit.sum(axis=0)
        others = total[None, :] - unit
        norms = np.linalg.norm(others, axis=1)
        norms[norms == 0] = 1.0
        similarity = np.einsum("ij,ij->i", unit, others) / norms
        out[members[1.0 - similarity > cap]] = NOISE
        if np.count_nonzero(out[members] == label) < params.min_cluster_size:
            out[members] = NOISE
    return out

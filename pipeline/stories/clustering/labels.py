"""Cluster labels: one number per article of the window, ``NOISE`` for none."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Labels = npt.NDArray[np.int64]
NOISE = -1


def canonical_labels(labels: Labels) -> Labels:
    """Renumber clusters 0..k-1 in order of their first member; noise stays ``NOISE``."""
    out = np.full(labels.shape[0], NOISE, dtype=np.int64)
    mapping: dict[int, int] = {}
    for index, label in enumerate(labels.tolist()):
        if label == NOISE:
            continue
        out[index] = mapping.setdefault(label, len(mapping))
    return out


def members_of(labels: Labels) -> dict[int, npt.NDArray[np.int64]]:
    """Row indices (ascending) of each cluster, by label in ascending order, noise left out:
    one sort of the window instead of a scan of it per cluster (``labels == label``), which
    at 200,000 articles in 5,000 clusters is 10^9 comparisons per pass."""
    kept = np.flatnonzero(labels != NOISE)
    if kept.shape[0] == 0:
        return {}
    order = kept[np.argsort(labels[kept], kind="stable")]
    found, starts = np.unique(labels[order], return_index=True)
    return dict(zip(found.tolist(), np.split(order, starts[1:]), strict=True))


def groups(component: npt.NDArray[np.int32]) -> list[npt.NDArray[np.int64]]:
    """Row indices of each component (numbered from 0, as scipy numbers them), in order of
    their first row."""
    found = members_of(component.astype(np.int64)).values()
    return sorted(found, key=lambda g: int(g[0]))

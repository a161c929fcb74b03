"""Clustering a window of article vectors into candidate stories. Pure: arrays in, labels out."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from models.types import FloatArray

Labels = npt.NDArray[np.int64]
NOISE = -1


@dataclass(frozen=True)
class ClusterParams:
    """The knobs of one clustering; recorded with every run."""

    min_cluster_size: int = 2
    min_samples: int = 1
    cluster_selection_epsilon: float = 0.6
    max_cluster_distance: float = 0.75

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise(vectors: FloatArray) -> FloatArray:
    """Rows scaled to unit length, so euclidean distance orders pairs as cosine distance does."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(vectors / norms, dtype=np.float32)


def centroid(vectors: FloatArray) -> FloatArray:
    """The unit-length mean direction of a set of vectors."""
    mean = normalise(vectors).mean(axis=0, keepdims=True)
    unit: FloatArray = normalise(mean)[0]
    return unit


def cluster_vectors(vectors: FloatArray, params: ClusterParams) -> Labels:
    """Label each row with a cluster number (0, 1, ...) or ``NOISE``.

    HDBSCAN finds dense groups; a cluster's members farther than ``max_cluster_distance``
    (cosine) from its centroid are then dropped to noise, which caps how far a story can
    spread. Cluster numbers are renumbered by their first row, so the same input in the same
    order always gives the same labels.
    """
    count = vectors.shape[0]
    if count < params.min_cluster_size:
        return np.full(count, NOISE, dtype=np.int64)
    unit = normalise(vectors).astype(np.float64)
    import hdbscan

    with warnings.catch_warnings():
        # hdbscan calls sklearn APIs that warn about upcoming renames; nothing we can act on.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        clusterer = hdbscan.HDBSCAN(
            min_cluster_size=params.min_cluster_size,
            min_samples=params.min_samples,
            cluster_selection_epsilon=params.cluster_selection_epsilon,
            metric="euclidean",
            core_dist_n_jobs=1,
        )
        raw = np.asarray(clusterer.fit_predict(unit), dtype=np.int64)
    capped = _cap_spread(unit, raw, params)
    return canonical_labels(capped)


def _cap_spread(unit: npt.NDArray[np.float64], labels: Labels, params: ClusterParams) -> Labels:
    """Drop members whose cosine distance to the rest of their cluster exceeds the cap.

    The distance is to the centroid of the *other* members: in a small cluster an outlier
    pulls the plain centroid towards itself and would hide.
    """
    out = labels.copy()
    for label in np.unique(labels[labels != NOISE]):
        members = np.flatnonzero(labels == label)
        total = unit[members].sum(axis=0)
        others = total[None, :] - unit[members]
        norms = np.linalg.norm(others, axis=1)
        norms[norms == 0] = 1.0
        similarity = np.einsum("ij,ij->i", unit[members], others) / norms
        out[members[1.0 - similarity > params.max_cluster_distance]] = NOISE
        if np.count_nonzero(out == label) < params.min_cluster_size:
            out[members] = NOISE
    return out


def canonical_labels(labels: Labels) -> Labels:
    """Renumber clusters 0..k-1 in order of their first member; noise stays ``NOISE``."""
    out = np.full(labels.shape[0], NOISE, dtype=np.int64)
    mapping: dict[int, int] = {}
    for index, label in enumerate(labels.tolist()):
        if label == NOISE:
            continue
        out[index] = mapping.setdefault(label, len(mapping))
    return out

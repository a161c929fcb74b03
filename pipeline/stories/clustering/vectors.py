"""Embedding vectors as the clustering compares them: unit length, so a dot is a cosine."""

from __future__ import annotations

import numpy as np

from models.types import FloatArray


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

from __future__ import annotations

import numpy as np

from pipeline.stories.clustering.labels import NOISE, canonical_labels


def test_canonical_labels() -> None:
    raw = np.array([5, -1, 2, 5, 2, 9])
    assert canonical_labels(raw).tolist() == [0, NOISE, 1, 0, 1, 2]

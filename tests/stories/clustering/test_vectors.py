from __future__ import annotations

import numpy as np

from pipeline.stories.clustering.vectors import centroid


def test_centroid_is_unit_mean_direction() -> None:
    vectors = np.array([[1, 0], [0, 2]], dtype=np.float32)
    assert np.allclose(centroid(vectors), [np.sqrt(0.5), np.sqrt(0.5)])

"""How every backend encodes: one text per model call, on a few threads, each call on one core.

Alone, a text is not padded and its vector depends on the text only; one call per core means
no thread waits for another inside a small matrix product (with two processes of two
intra-op threads each on two cores, the old batches took 4 times as long, measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from models.types import FloatArray
from pipeline.stories.clustering.vectors import normalise


class OneTextPerCall:
    """A backend's ``encode``: its ``_encode_one`` over the texts on ``threads`` threads, as
    L2-normalised float32 rows of ``dim``."""

    dim: int

    def __init__(self, *, threads: int, name: str) -> None:
        self.threads = threads
        # Its threads start on the first encode, not here: a Celery pool process loads the
        # model and forks tasks, which would not inherit them.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        if self.threads == 1:
            rows = [self._encode_one(text) for text in texts]
        else:
            rows = list(self._pool.map(self._encode_one, texts))
        return normalise(np.stack(rows))

    def _encode_one(self, text: str) -> FloatArray:
        raise NotImplementedError

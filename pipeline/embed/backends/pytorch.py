"""The embedding model run by PyTorch, as sentence-transformers loads it, in fp32 or bfloat16.

Texts run one per call, on ``threads`` threads of this process, each call on one core
(torch's own intra-op threads set to 1): on 2 cores that is 1.5 times the speed of
sentence-transformers' batches of 32 on two intra-op threads (measured on gva texts), since
nothing is padded and no thread waits for another inside each small matrix product; and a
text's vector depends on the text alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from models.types import FloatArray
from pipeline.embed.backends.sentence_model import (
    embedding_dim,
    load_sentence_transformer,
    model_version,
)


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, run by PyTorch."""

    def __init__(
        self, name: str, *, offline: bool = True, threads: int = 1, bf16: bool = False
    ) -> None:
        self._model = load_sentence_transformer(name, offline=offline)
        self.name = name
        self.dim = embedding_dim(self._model)
        self.version = model_version(name) + ("; torch bf16" if bf16 else "")
        self.threads = threads
        if bf16:
            self._model.to(torch.bfloat16)
        # Process-wide: every torch call of this process runs on the thread that makes it.
        torch.set_num_threads(1)
        # Its threads start on the first encode, not here: a Celery pool process loads the
        # model and forks tasks, which would not inherit them.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="torch-embed")

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        if self.threads == 1:
            rows = [self._encode_one(text) for text in texts]
        else:
            rows = list(self._pool.map(self._encode_one, texts))
        vectors = np.stack(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def _encode_one(self, text: str) -> FloatArray:
        features = self._model.preprocess([text])
        with torch.inference_mode():
            output = self._model(features)["sentence_embedding"][0]
        return np.asarray(output.float().numpy(), dtype=np.float32)

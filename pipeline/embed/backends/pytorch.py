"""The embedding model run by PyTorch, as sentence-transformers runs it: the default backend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.types import FloatArray
from pipeline.embed.backends.sentence_model import (
    embedding_dim,
    load_sentence_transformer,
    model_version,
)


class SentenceTransformerEmbedder:
    """A sentence-transformers model on the CPU, run by PyTorch."""

    def __init__(self, name: str, *, offline: bool = True) -> None:
        self._model = load_sentence_transformer(name, offline=offline)
        self.name = name
        self.version = model_version(name)
        self.dim = embedding_dim(self._model)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        vectors = self._model.encode(
            list(texts),
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

"""The embedding model run by PyTorch, as sentence-transformers loads it, in fp32 or bfloat16.

Texts run one per call (``per_text``), torch's own intra-op threads set to 1: on 2 cores
that is 1.5 times the speed of sentence-transformers' batches of 32 on two intra-op threads
(measured on gva texts), and a text's vector depends on the text alone.
"""

from __future__ import annotations

import numpy as np
import torch

from models.types import FloatArray
from pipeline.embed.backends.per_text import OneTextPerCall
from pipeline.embed.backends.sentence_model import (
    embedding_dim,
    load_sentence_transformer,
    model_version,
)


class SentenceTransformerEmbedder(OneTextPerCall):
    """A sentence-transformers model on the CPU, run by PyTorch."""

    def __init__(
        self, name: str, *, offline: bool = True, threads: int = 1, bf16: bool = False
    ) -> None:
        self._model = load_sentence_transformer(name, offline=offline)
        self.name = name
        self.dim = embedding_dim(self._model)
        self.version = model_version(name) + ("; torch bf16" if bf16 else "")
        if bf16:
            self._model.to(torch.bfloat16)
        # Process-wide: every torch call of this process runs on the thread that makes it.
        torch.set_num_threads(1)
        super().__init__(threads=threads, name="torch")

    def _encode_one(self, text: str) -> FloatArray:
        features = self._model.preprocess([text])
        with torch.inference_mode():
            output = self._model(features)["sentence_embedding"][0]
        return np.asarray(output.float().numpy(), dtype=np.float32)

"""The embedding backends behind one interface, and the factory that picks one from settings.

``Embedder`` is what the embed stage needs of a backend. ``pytorch`` runs the
sentence-transformers model as it is, ``onnx_int8`` its ONNX export with int8 weights; both
load the model through ``sentence_model``. They are imported when a model is loaded, not
here: importing this package costs no torch, sentence-transformers or ONNX Runtime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from models.types import FloatArray
from pipeline.settings import EmbedBackend, Settings, default_cache_dir

__all__ = ["Embedder", "load_embedder", "settings_embedder"]

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    name: str
    dim: int
    version: str

    def encode(self, texts: Sequence[str]) -> FloatArray: ...


@lru_cache(maxsize=4)
def load_embedder(
    name: str,
    offline: bool = True,
    backend: EmbedBackend = "torch",
    cache_dir: Path | None = None,
) -> Embedder:
    """One loaded model per process, name and backend.

    ``onnx-int8`` keeps its exported model in ``cache_dir`` (default: ``~/.cache/storyline``).
    The load is logged with its seconds: each Airflow task is a process of its own, so each
    embed task pays it (imports included), and its task log shows how much.
    """
    start = time.perf_counter()
    embedder: Embedder
    if backend == "onnx-int8":
        from pipeline.embed.backends.onnx_int8 import OnnxInt8Embedder

        embedder = OnnxInt8Embedder(
            name, offline=offline, cache_dir=cache_dir or default_cache_dir()
        )
    else:
        from pipeline.embed.backends.pytorch import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder(name, offline=offline)
    log.info(
        "embedding model loaded",
        extra={
            "model": name,
            "backend": backend,
            "seconds": round(time.perf_counter() - start, 3),
        },
    )
    return embedder


def settings_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for: model, backend and cache directory."""
    return load_embedder(
        settings.model_name, settings.hf_offline, settings.embed_backend, settings.model_cache_dir
    )

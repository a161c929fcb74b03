"""The embedding backends behind one interface, and the factory that picks one from settings.

``Embedder`` is what the embed stage needs of a backend. ``onnx_runtime`` runs the model's
checked ONNX export (fp32, the default, or int8), ``pytorch`` the sentence-transformers model
as it is (fp32, or bfloat16 where the CPU has it, ``cpu``); all load the model through
``sentence_model``. They are imported when a model is loaded, not here: importing this
package costs no torch, sentence-transformers or ONNX Runtime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from models.types import FloatArray
from pipeline.errors import first_line
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
    backend: EmbedBackend = "auto",
    cache_dir: Path | None = None,
    threads: int = 1,
) -> Embedder:
    """One loaded model per process, name, backend and thread count.

    ``auto`` is ``onnx`` when the model exports and its export passes the check, else
    ``torch`` (one log line says why). The ONNX backends keep their export in ``cache_dir``
    (default: ``~/.cache/storyline``). ``torch-bf16`` runs in fp32 on a CPU that would only
    emulate bfloat16 (one log line). The load is logged with its seconds: each Airflow task
    is a process of its own, so each embed task pays it (imports included), unless a Celery
    worker loaded it before forking the task (``pipeline.worker``).
    """
    start = time.perf_counter()
    embedder: Embedder
    chosen: EmbedBackend = backend
    if backend in ("auto", "onnx", "onnx-int8"):
        from pipeline.embed.backends.onnx_runtime import NoExportError, OnnxEmbedder

        try:
            embedder = OnnxEmbedder(
                name,
                offline=offline,
                cache_dir=cache_dir or default_cache_dir(),
                precision="int8" if backend == "onnx-int8" else "fp32",
                threads=threads,
            )
            chosen = "onnx" if backend == "auto" else backend
        except NoExportError as exc:
            if backend != "auto":
                raise
            log.warning(
                "embedding with PyTorch: no checked ONNX export of the model",
                extra={"model": name, "reason": first_line(exc)},
            )
            chosen = "torch"
    if chosen in ("torch", "torch-bf16"):
        from pipeline.embed.backends.cpu import cpu_flags, fast_bf16
        from pipeline.embed.backends.pytorch import SentenceTransformerEmbedder

        bf16 = chosen == "torch-bf16"
        if bf16 and not fast_bf16(cpu_flags()):
            log.warning(
                "embedding in fp32: this CPU has no bfloat16 instructions (AVX512_BF16 or "
                "AMX), and emulated bfloat16 is far slower",
                extra={"model": name},
            )
            bf16, chosen = False, "torch"
        embedder = SentenceTransformerEmbedder(name, offline=offline, threads=threads, bf16=bf16)
    log.info(
        "embedding model loaded",
        extra={
            "model": name,
            "backend": chosen,
            "threads": threads,
            "seconds": round(time.perf_counter() - start, 3),
        },
    )
    return embedder


def settings_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for: model, backend, cache directory and threads."""
    from pipeline.embed.backends.cpu import threads, usable_cores

    return load_embedder(
        settings.model_name,
        settings.hf_offline,
        settings.embed_backend,
        settings.model_cache_dir,
        threads(settings.embed_threads, settings.embed_processes, usable_cores()),
    )

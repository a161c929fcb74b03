"""The embedding model on ONNX Runtime: its checked export, built once and cached on disk.

sentence-transformers' own ONNX backend needs optimum, whose releases pin older
transformers and sentence-transformers, so the model is exported here
(``onnx_export``, in a process of its own, checked against PyTorch's vectors before the
file is kept). Tokenising stays with the model's own tokenizer
(``SentenceTransformer.preprocess``), so truncation at ``max_seq_length`` and the special
tokens are the same as with PyTorch; PyTorch itself never runs in this process.

Texts run one per call (``per_text``; ONNX Runtime releases the GIL while it runs). With
int8, dynamic quantisation scales activations by the range of the whole input, so in a batch
a text's vector would depend on its batch-mates. On 2 cores this beat batches on both
threads: 43 against 32 texts/s for the fused fp32 file, batches of 16.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.types import FloatArray
from pipeline.embed.backends.onnx_export import RECIPE, Precision
from pipeline.embed.backends.per_text import OneTextPerCall
from pipeline.embed.backends.sentence_model import (
    embedding_dim,
    load_sentence_transformer,
    model_version,
    resolve_model_path,
)
from pipeline.errors import ModelError, first_line

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

log = logging.getLogger(__name__)

EXPORT_LIBRARIES = ("torch", "transformers", "onnx", "onnxruntime")
"""Libraries whose version shapes the exported file, besides the model's own (cache key)."""

EXPORT_TIMEOUT_SECONDS = 1800
"""Longest an export may take (30 s for the default model on 2 cores)."""


class NoExportError(ModelError):
    """The model has no checked ONNX export, and cannot have one here: it failed to export,
    failed the check, or the cache cannot hold it."""


class OnnxEmbedder(OneTextPerCall):
    """A sentence-transformers model's checked ONNX export, run by ONNX Runtime."""

    def __init__(
        self,
        name: str,
        *,
        offline: bool = True,
        cache_dir: Path,
        precision: Precision = "fp32",
        threads: int = 1,
    ) -> None:
        import onnxruntime

        self._model = load_sentence_transformer(name, offline=offline)
        self.name = name
        self.dim = embedding_dim(self._model)
        self.version = f"{model_version(name)}; onnxruntime {onnxruntime.__version__} {precision}"
        self.path = cache_dir / cache_file_name(name, precision)
        self.exported = False
        self._session = self._open_or_export(offline, precision)
        self._inputs = [node.name for node in self._session.get_inputs()]
        super().__init__(threads=threads, name="onnx")

    def _encode_one(self, text: str) -> FloatArray:
        features = self._model.preprocess([text])
        (output,) = self._session.run(None, {name: features[name].numpy() for name in self._inputs})
        return np.asarray(output[0], dtype=np.float32)

    def _open_or_export(self, offline: bool, precision: Precision) -> InferenceSession:
        """The cached file's session, exporting it first when missing or unreadable.

        One process exports at a time (a lock beside the file): two Airflow tasks starting
        cold wait for one export instead of paying two. An export that failed is remembered
        beside the file (``.failed``, with its reason) and not tried again for the same key.
        """
        failed = self.path.with_suffix(".failed")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _exclusive(self.path.with_suffix(".lock")):
                if failed.exists():
                    raise NoExportError(failed.read_text().strip())
                if self.path.exists():
                    try:
                        return open_session(self.path)
                    except Exception as exc:  # ONNX Runtime's errors derive from Exception
                        log.warning(
                            "cached ONNX model unreadable, exporting it again",
                            extra={"path": str(self.path), "reason": first_line(exc)},
                        )
                reason = export(self.name, self.path, precision, offline=offline)
                if reason is not None:
                    failed.write_text(reason + "\n")
                    raise NoExportError(reason)
                self.exported = True
                return open_session(self.path)
        except OSError as exc:
            raise NoExportError(
                f"cannot keep the ONNX export of embedding model {self.name!r} in "
                f"{self.path.parent} ({first_line(exc)}); set STORYLINE_MODEL_CACHE_DIR to a "
                "writable directory, or STORYLINE_EMBED_BACKEND=torch"
            ) from exc


def export(name: str, path: Path, precision: Precision, *, offline: bool) -> str | None:
    """Run ``onnx_export`` for the model in a process of its own; None when the checked file
    is in place, else why not (one line naming the model and what to do)."""
    command = [sys.executable, "-m", "pipeline.embed.backends.onnx_export", name, str(path)]
    command += ["--precision", precision] + ([] if offline else ["--online"])
    log.info(
        "exporting the embedding model to ONNX and checking it against PyTorch",
        extra={"model": name, "path": str(path), "precision": precision},
    )
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return (
            f"exporting embedding model {name!r} to ONNX took over "
            f"{EXPORT_TIMEOUT_SECONDS} s; set STORYLINE_EMBED_BACKEND=torch"
        )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        return (
            f"cannot export embedding model {name!r} to ONNX ({lines[-1]}); "
            "set STORYLINE_EMBED_BACKEND=torch"
        )
    check = json.loads(done.stdout.strip().splitlines()[-1])
    log.info("ONNX export checked against PyTorch", extra={"model": name, **check})
    return None


def open_session(path: Path) -> InferenceSession:
    """A session whose every call runs on one thread (the embedder runs one call per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cache_file_name(name: str, precision: Precision) -> str:
    """``<model>-<key>-<precision>.onnx``; the key changes with the model, the export recipe
    and any library that shapes the file, so an upgrade exports anew instead of reusing."""
    parts = [name, f"onnx recipe {RECIPE}", precision, model_version(name)]
    for distribution in EXPORT_LIBRARIES:
        try:
            parts.append(f"{distribution} {version(distribution)}")
        except PackageNotFoundError:
            continue
    model_dir = Path(resolve_model_path(name))
    if model_dir.is_dir():  # a local model: its files, by size and modification time
        for file in sorted(model_dir.rglob("*")):
            if file.is_file():
                stat = file.stat()
                parts.append(f"{file.relative_to(model_dir)} {stat.st_size} {stat.st_mtime_ns}")
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[-64:] or "model"
    return f"{slug}-{key}-{precision}.onnx"


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file ``lock`` (created if missing) while inside."""
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

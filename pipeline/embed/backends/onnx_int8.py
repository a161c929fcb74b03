"""The embedding model on ONNX Runtime with int8 weights: exported once, cached on disk.

sentence-transformers' own ONNX backend needs optimum, whose releases pin older
transformers and sentence-transformers, so the model is exported here with ``torch.onnx``:
the whole forward pass (transformer, pooling, normalisation) exactly as sentence-transformers
runs it, then quantised by ONNX Runtime (dynamic int8 weights with one scale per output
channel; one scale per tensor lost too much: cosine to the float vectors fell to 0.74).
Tokenising stays with the model's own tokenizer (``SentenceTransformer.preprocess``), so
truncation at ``max_seq_length`` and the special tokens are the same as with PyTorch.

Texts run one per call, on as many threads as there are cores, each call on one core.
Dynamic quantisation scales a layer's activations by the range of the whole input tensor,
so in a batch a text's vector would depend on its batch-mates and their padding; alone, it
depends on the text only (a rerun reproduces it exactly), nothing is padded, and on this
2-core CPU it is faster than batches of 32 (52 against 38 texts/s, measured under load).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from models.types import FloatArray
from pipeline.embed.backends.sentence_model import (
    embedding_dim,
    load_sentence_transformer,
    model_version,
    resolve_model_path,
)
from pipeline.errors import ModelError, first_line

if TYPE_CHECKING:
    from onnxruntime import InferenceSession
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

GRAPH_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""Tokenizer outputs the exported graph can take, in the order of its inputs."""

EXPORT_LIBRARIES = ("torch", "transformers", "onnx", "onnxscript", "onnxruntime")
"""Libraries whose version shapes the exported file, besides the model's own (cache key)."""


class OnnxInt8Embedder:
    """A sentence-transformers model exported to ONNX with int8 weights, run by ONNX Runtime."""

    def __init__(self, name: str, *, offline: bool = True, cache_dir: Path) -> None:
        import onnxruntime

        self._model = load_sentence_transformer(name, offline=offline)
        self.name = name
        self.dim = embedding_dim(self._model)
        self.version = f"{model_version(name)}; onnxruntime {onnxruntime.__version__} int8"
        self.path = cache_dir / cache_file_name(name)
        model = self._model
        try:
            self._session, self.exported = cached_session(
                self.path, lambda path: export_int8(model, path)
            )
        # Exporting runs the model's own code through torch.export, onnxscript and ONNX
        # Runtime, each with its own error types (ONNX Runtime's derive from Exception only).
        except Exception as exc:
            raise ModelError(
                f"cannot export embedding model {name!r} to ONNX in {cache_dir} "
                f"({first_line(exc)}); set STORYLINE_EMBED_BACKEND=torch, or "
                "STORYLINE_MODEL_CACHE_DIR to a writable directory"
            ) from exc
        self._inputs = [node.name for node in self._session.get_inputs()]
        # ONNX Runtime releases the GIL while it runs: one single-threaded call per core.
        self._pool = ThreadPoolExecutor(
            max_workers=len(os.sched_getaffinity(0)), thread_name_prefix="onnx-embed"
        )

    def encode(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = np.stack(list(self._pool.map(self._encode_one, texts)))
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)

    def _encode_one(self, text: str) -> FloatArray:
        features = self._model.preprocess([text])
        (output,) = self._session.run(None, {name: features[name].numpy() for name in self._inputs})
        return np.asarray(output[0], dtype=np.float32)


def cached_session(path: Path, export: Callable[[Path], None]) -> tuple[InferenceSession, bool]:
    """Open the model at ``path``, exporting it first if it is missing or unreadable.

    Returns the session and whether it was exported now.
    """
    if path.exists():
        try:
            return open_session(path), False
        except Exception as exc:  # ONNX Runtime's errors derive from Exception only
            log.warning(
                "cached ONNX model unreadable, exporting it again",
                extra={"path": str(path), "reason": first_line(exc)},
            )
    log.info("exporting the embedding model to ONNX", extra={"path": str(path)})
    export(path)
    return open_session(path), True


def open_session(path: Path) -> InferenceSession:
    """A session whose every call runs on one thread (the embedder runs one call per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def cache_file_name(name: str) -> str:
    """``<model>-<key>-int8.onnx``; the key changes with the model and with any library
    that shapes the exported file, so an upgrade exports anew instead of reusing."""
    parts = [name, "onnx-int8", model_version(name)]
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
    return f"{slug}-{key}-int8.onnx"


class SentenceEmbeddingGraph(torch.nn.Module):
    """The model's forward pass from token ids to its sentence embedding, for export."""

    def __init__(self, model: SentenceTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        embedding: torch.Tensor = self.model(features)["sentence_embedding"]
        return embedding


def export_int8(model: SentenceTransformer, path: Path) -> None:
    """Export ``model`` to ONNX, quantise its weights to int8, and write ``path`` atomically."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    sample = model.preprocess(["A short text.", "A longer text, so that the batch has padding."])
    tensors = {key for key, value in sample.items() if isinstance(value, torch.Tensor)}
    names = [name for name in GRAPH_INPUTS if name in tensors]
    if tensors - set(names) or names[:2] != ["input_ids", "attention_mask"]:
        raise ValueError(f"the tokenizer gives {sorted(tensors)}, not token ids and a mask")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Built in a folder beside the target and renamed into place (atomic on one file system):
    # a killed run or two processes exporting at once never leave a partial file at ``path``.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}-") as tmp:
        fp32, prepared, int8 = (Path(tmp) / f for f in ("fp32.onnx", "prepared.onnx", "int8.onnx"))
        dynamic = torch.export.Dim.DYNAMIC  # batch size and sequence length
        with _quiet_exporter():
            torch.onnx.export(
                SentenceEmbeddingGraph(model).eval(),
                tuple(sample[name] for name in names),
                fp32,
                dynamo=True,
                external_data=False,
                verbose=False,
                input_names=names,
                output_names=["sentence_embedding"],
                dynamic_shapes=tuple({0: dynamic, 1: dynamic} for _ in names),
            )
        # ONNX Runtime's advised preparation before quantising; its symbolic shape inference
        # cannot resolve the exporter's dynamic dimensions and is not needed for MatMuls.
        quant_pre_process(fp32, prepared, skip_symbolic_shape=True)
        quantize_dynamic(prepared, int8, per_channel=True, weight_type=QuantType.QInt8)
        os.replace(int8, path)


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what torch.onnx says on every export that is no concern of ours."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    # "torchvision is not installed. Skipping torchvision::nms": no vision ops are needed.
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # torch's pytree code trips over its own deprecation while copying specs.
            warnings.filterwarnings(
                "ignore",
                message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                category=FutureWarning,
            )
            yield
    finally:
        registration.setLevel(level)

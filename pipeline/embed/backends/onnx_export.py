"""The embedding model exported to ONNX, fused, optionally quantised, and checked against
PyTorch before it is trusted.

    python -m pipeline.embed.backends.onnx_export MODEL PATH [--precision fp32|int8] [--online]

The ONNX backend (``onnx_runtime``) runs this in a process of its own: exporting runs the
model in PyTorch (the trace, and the reference vectors of the check), which starts torch's
threads and takes about 1 GB, and the process that embeds afterwards (a Celery pool process
forks its tasks from it) never runs PyTorch. It prints the check's figures as one JSON line;
a failure is one line on stderr and exit status 1.

The recipe, each step measured on 384 gva texts on 2 cores (texts/s of one text per call on
each core, against sentence-transformers' batches of 32 on 2 threads):

1. ``torch.onnx.export`` of the whole forward pass (transformer, pooling, normalisation),
   with the TorchScript exporter and eager attention: its graph is the one ONNX Runtime's
   transformer optimizer recognises (the dynamo exporter's graph fuses no attention).
   Unfused: 1.6 times.
2. ``onnxruntime.transformers.optimizer`` fuses embedding + layer norm, attention, bias +
   GELU and skip + layer norm into single kernels: 1.9 times, vectors equal to cosine 1.0000.
   Only for the BERT family it knows; another model keeps the plain graph.
3. ``int8`` only: ONNX Runtime's dynamic quantisation, int8 weights with one scale per output
   channel: 2.7 times, but cosine to PyTorch's vectors as low as 0.97.
4. The check: the ``PROBE`` texts through PyTorch and through the file; the file is kept
   only when every cosine reaches ``MIN_COSINE`` of its precision. Then it is renamed into
   place (atomic on one file system), so the path holds a checked file or nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from pipeline.embed.backends.sentence_model import load_sentence_transformer
from pipeline.errors import ModelError, first_line
from pipeline.stories.clustering.vectors import normalise

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Precision = Literal["fp32", "int8"]

RECIPE = "2"
"""The export recipe's version, part of the cache key: a change of recipe exports anew."""

GRAPH_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""Tokenizer outputs the exported graph can take, in the order of its inputs."""

MIN_COSINE: dict[Precision, float] = {"fp32": 0.9999, "int8": 0.95}
"""The least cosine between a probe text's vector from the file and from PyTorch."""

FUSED_FAMILIES = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "electra"})
"""Transformers ``model_type``s whose graph ONNX Runtime's optimizer fuses as ``bert``."""

PROBE = (
    "Magnitude 7 earthquake strikes off the coast of Chile",
    "Central bank leaves interest rates unchanged as inflation eases",
    "Le gouvernement annonce une réforme des retraites",
    "Floods force thousands from their homes in Bangladesh after monsoon rains. Rescue "
    "teams reached villages cut off by the water on Tuesday, officials said, and more "
    "rain is expected before the weekend.",
    "Police in Paris named a third suspect on Monday as the manhunt for the attackers "
    "widened to Belgium, where raids in the Molenbeek district of Brussels led to seven "
    "arrests. " * 8,  # longer than the model's 256 tokens: the cut must be the same
    "",
    "2:1",
    "Apple unveils new iPhone — prices start at $799",
)
"""Texts the check encodes: short and long (past the cut), other languages, digits and
punctuation, and nothing at all."""


@dataclass(frozen=True)
class Check:
    """How the exported file's vectors compare with PyTorch's on ``PROBE``."""

    precision: Precision
    fused: bool
    min_cosine: float
    mean_cosine: float
    texts: int


class CheckFailedError(ModelError):
    """The exported file's vectors differ from PyTorch's more than its precision allows."""


def export_checked(model: SentenceTransformer, path: Path, precision: Precision) -> Check:
    """Export ``model`` to ``path`` (atomically) once its vectors pass the check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.stem}-") as tmp:
        plain, fused, int8 = (Path(tmp) / f for f in ("plain.onnx", "fused.onnx", "int8.onnx"))
        export_graph(model, plain)
        made = fuse(model, plain, fused)
        final = made or plain
        if precision == "int8":
            quantise(final, int8)
            final = int8
        check = compare(model, final, precision, fused=made is not None)
        if check.min_cosine < MIN_COSINE[precision]:
            raise CheckFailedError(
                f"its {precision} ONNX export gives vectors that differ from PyTorch's "
                f"(least cosine {check.min_cosine:.5f}, {MIN_COSINE[precision]} needed)"
            )
        os.replace(final, path)
    return check


def export_graph(model: SentenceTransformer, path: Path) -> None:
    """The model's forward pass, from token ids to its unit vector, as an ONNX file."""
    sample = model.preprocess(["A short text.", "A longer text, so that the batch has padding."])
    tensors = {key for key, value in sample.items() if isinstance(value, torch.Tensor)}
    names = [name for name in GRAPH_INPUTS if name in tensors]
    if tensors - set(names) or names[:2] != ["input_ids", "attention_mask"]:
        raise ValueError(f"the tokenizer gives {sorted(tensors)}, not token ids and a mask")
    transformer = _transformer(model)
    if transformer is not None and hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")  # the attention graph the optimizer fuses
    with _quiet_exporter():
        torch.onnx.export(
            SentenceEmbeddingGraph(model).eval(),
            tuple(sample[name] for name in names),
            str(path),
            dynamo=False,
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in names},
            opset_version=17,
        )


def fuse(model: SentenceTransformer, plain: Path, fused: Path) -> Path | None:
    """``plain`` with ONNX Runtime's transformer fusions, written to ``fused``; None for a
    model outside the families it knows (the plain graph is used as it is)."""
    transformer = _transformer(model)
    config = getattr(transformer, "config", None)
    if config is None or getattr(config, "model_type", None) not in FUSED_FAMILIES:
        return None
    from onnxruntime.transformers.optimizer import optimize_model

    with _quiet_exporter():
        optimised = optimize_model(
            str(plain),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
    optimised.save_model_to_file(str(fused))
    return fused


def quantise(source: Path, target: Path) -> None:
    """``source`` with int8 weights, one scale per output channel (one per tensor lost too
    much: cosine to the float vectors fell to 0.74)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_exporter():
        quantize_dynamic(
            source,
            target,
            per_channel=True,
            weight_type=QuantType.QInt8,
            # The fused graph's custom operators leave shape inference without some types.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )


def compare(model: SentenceTransformer, path: Path, precision: Precision, *, fused: bool) -> Check:
    """PyTorch's and the file's vectors of ``PROBE``, one text per call in both."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [node.name for node in session.get_inputs()]
    reference = model.encode(list(PROBE), batch_size=1, normalize_embeddings=True)
    exported = np.stack(
        [
            session.run(None, {name: features[name].numpy() for name in inputs})[0][0]
            for features in (model.preprocess([text]) for text in PROBE)
        ]
    )
    cosine = np.sum(normalise(exported) * normalise(np.asarray(reference)), axis=1)
    return Check(precision, fused, float(cosine.min()), float(cosine.mean()), len(PROBE))


def _transformer(model: SentenceTransformer) -> Any:
    """The Hugging Face model inside a sentence-transformers model's first module, or None."""
    return getattr(model[0], "auto_model", None) if len(model) else None


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


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence what the exporter and the optimizer say on every export that is no concern of
    ours (deprecation of the TorchScript exporter, tracer warnings on Python control flow,
    the optimizer's notes on shape inference); failures still raise."""
    quiet = [logging.getLogger(name) for name in ("onnxruntime", "torch.onnx", "root")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.embed.backends.onnx_export")
    parser.add_argument("model")
    parser.add_argument("path", type=Path)
    parser.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    parser.add_argument("--online", action="store_true", help="allow Hugging Face downloads")
    args = parser.parse_args(argv)
    try:
        model = load_sentence_transformer(args.model, offline=not args.online)
        check = export_checked(model, args.path, args.precision)
    # The export runs the model's own code through the tracer, the optimizer and ONNX
    # Runtime, each with its own error types (ONNX Runtime's derive from Exception only).
    except Exception as exc:
        print(first_line(exc), file=sys.stderr)
        return 1
    print(json.dumps(asdict(check)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

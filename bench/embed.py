"""Embedding backends side by side in one process, and a corpus replay before and after.

    .venv/bin/python -m bench.embed [--corpus PATH.jsonl] [--limit 1000] [--chunk 64]
                                    [--replay PATH.jsonl | --no-replay]

Every backend embeds the same texts (``embedding_text`` of the corpus's first ``--limit``
articles, as the pipeline builds them), taking turns on each ``--chunk`` texts, so a change
of the machine's load falls on all alike. "before" is what the pipeline ran until now:
``SentenceTransformer.encode`` in batches of 32 on all cores. Each row gives texts/s, the
ratio to "before", the cosine of its vectors to fp32 PyTorch's (mean, least), how often a
text's nearest neighbour among the texts stays the same, and the share of the machine's
matrix-product peak it reaches (the model's FLOPs per text over the peak measured here with
one single-threaded product per core; bf16 rows against the bf16 peak, the others against
fp32's). The ONNX files are exported into a temporary cache first (time printed).

Then ``--replay`` (default ecbplus) is replayed through store, embed and cluster twice, with
"before" and with the default backend: wall time, embedding time, BCubed F1 and stories.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import DATASETS
from models.types import FloatArray
from pipeline.db import make_engine, migrate
from pipeline.embed.backends import Embedder
from pipeline.embed.backends.cpu import cpu_flags, fast_bf16, threads, usable_cores
from pipeline.embed.backends.onnx_runtime import OnnxEmbedder
from pipeline.embed.backends.pytorch import SentenceTransformerEmbedder
from pipeline.embed.backends.sentence_model import load_sentence_transformer
from pipeline.errors import ConfigError
from pipeline.evaluate import evaluate, load_corpus
from pipeline.settings import Settings
from pipeline.text import embedding_text


class BatchEmbedder:
    """The pipeline's embedding until now: sentence-transformers' ``encode``, batches of 32,
    torch's intra-op threads on all cores."""

    def __init__(self, name: str, cores: int) -> None:
        self._model = load_sentence_transformer(name)
        self._cores = cores
        self.name, self.dim, self.version = name, 384, "before"

    def encode(self, texts: Sequence[str]) -> FloatArray:
        before = torch.get_num_threads()
        torch.set_num_threads(self._cores)
        try:
            vectors = self._model.encode(
                list(texts),
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        finally:
            torch.set_num_threads(before)
        return np.asarray(vectors, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DATASETS / "gva-2013-2015.jsonl")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--chunk", type=int, default=64)
    parser.add_argument("--replay", type=Path, default=DATASETS / "ecbplus.jsonl")
    parser.add_argument("--no-replay", dest="replay", action="store_const", const=None)
    args = parser.parse_args()
    rows = load_corpus(args.corpus)[: args.limit]
    cores = usable_cores()
    width = threads(0, 1, cores)
    flags = cpu_flags()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(model_cache_dir=Path(tmp) / "cache")
        name = settings.model_name
        texts = [embedding_text(r.title, r.text, settings.embed_text_chars) for r in rows]
        exports: dict[str, float] = {}
        backends: dict[str, tuple[Embedder, str]] = {
            "before: torch fp32, batches of 32": (BatchEmbedder(name, cores), "fp32"),
            f"torch fp32, 1 text/call x {width}": (
                SentenceTransformerEmbedder(name, threads=width),
                "fp32",
            ),
        }
        if fast_bf16(flags):
            backends[f"torch bf16, 1 text/call x {width}"] = (
                SentenceTransformerEmbedder(name, threads=width, bf16=True),
                "bf16",
            )
        for precision in ("fp32", "int8"):
            started = time.perf_counter()
            onnx = OnnxEmbedder(
                name, cache_dir=settings.model_cache_dir, precision=precision, threads=width
            )
            exports[precision] = time.perf_counter() - started
            label = f"ONNX {precision}, 1 text/call x {width}"
            backends[label + (" (default)" if precision == "fp32" else "")] = (onnx, precision)

        peaks = {"fp32": matmul_peak(torch.float32, width)}
        if fast_bf16(flags):
            peaks["bf16"] = matmul_peak(torch.bfloat16, width)
        flops = flops_per_text(name, texts)
        seconds, vectors = side_by_side(
            {label: embedder.encode for label, (embedder, _) in backends.items()},
            texts,
            args.chunk,
        )

        tokens = np.mean([len(t) for t in texts])
        print(
            f"embedding: {len(texts)} texts of {args.corpus.name} (mean {tokens:.0f} chars, "
            f"{flops / 1e9:.2f} GFLOP each), {name}, turns of {args.chunk}; {cores} cores, "
            f"{width} thread(s) per backend, load {os.getloadavg()[0]:.1f}; bf16 instructions: "
            f"{'yes' if fast_bf16(flags) else 'no'}"
        )
        print(
            "matrix-product peak here: "
            + ", ".join(f"{key} {value / 1e9:.0f} GFLOP/s" for key, value in peaks.items())
            + "; ONNX export and check, once: "
            + ", ".join(f"{key} {value:.0f} s" for key, value in exports.items())
        )
        baseline_label = next(iter(backends))
        baseline = len(texts) / seconds[baseline_label]
        reference = vectors[f"torch fp32, 1 text/call x {width}"]
        header = (
            f"{'backend':44} {'texts/s':>8} {'x before':>8} {'cos mean':>9} {'cos min':>8} "
            f"{'same NN':>8} {'of peak':>8}"
        )
        print(header)
        for label, (_, precision) in backends.items():
            rate = len(texts) / seconds[label]
            cosine = np.sum(vectors[label] * reference, axis=1)
            same = same_nearest(reference, vectors[label])
            peak = peaks.get(precision, peaks["fp32"])
            print(
                f"{label:44} {rate:8.1f} {rate / baseline:8.2f} {cosine.mean():9.5f} "
                f"{cosine.min():8.5f} {same:8.1%} {rate * flops / peak:8.0%}"
            )
        if not fast_bf16(flags):
            print("torch bf16: not run, this CPU has no AVX512_BF16 or AMX (emulated bf16 is slow)")

        if args.replay is not None:
            corpus = load_corpus(args.replay)
            default = backends[f"ONNX fp32, 1 text/call x {width} (default)"][0]
            print(f"replay of {args.replay.name} ({len(corpus)} articles), store+embed+cluster:")
            print(f"{'':22} {'seconds':>8} {'embed s':>8} {'B3 F1':>8} {'stories':>8}")
            walls: list[float] = []
            for label, embedder in (("before", backends[baseline_label][0]), ("default", default)):
                url = f"sqlite:///{Path(tmp) / f'replay-{label}.db'}"
                engine = make_engine(url)
                migrate(engine)
                started = time.perf_counter()
                result = evaluate(
                    engine,
                    settings.model_copy(update={"database_url": url}),
                    corpus,
                    name=args.replay.name,
                    embedder=embedder,
                )
                walls.append(time.perf_counter() - started)
                engine.dispose()
                print(
                    f"{label:22} {walls[-1]:8.1f} {result.seconds.get('embed', 0):8.1f} "
                    f"{result.scores.bcubed_f1:8.4f} {result.stories:8}"
                )
            print(f"replay wall time, default over before: {walls[1] / walls[0]:.2f}")


def side_by_side(
    encoders: dict[str, Callable[[Sequence[str]], FloatArray]], texts: list[str], chunk: int
) -> tuple[dict[str, float], dict[str, FloatArray]]:
    """Seconds each encoder took on ``texts`` and its vectors, the encoders taking turns on
    each ``chunk`` of texts (after one warm-up call each)."""
    for encode in encoders.values():
        encode(texts[:8])
    seconds = dict.fromkeys(encoders, 0.0)
    parts: dict[str, list[FloatArray]] = {label: [] for label in encoders}
    for start in range(0, len(texts), chunk):
        part = texts[start : start + chunk]
        for label, encode in encoders.items():
            began = time.perf_counter()
            parts[label].append(encode(part))
            seconds[label] += time.perf_counter() - began
    return seconds, {label: np.concatenate(values) for label, values in parts.items()}


def matmul_peak(dtype: torch.dtype, width: int, size: int = 1024, rounds: int = 8) -> float:
    """FLOP/s of ``width`` single-threaded matrix products at once (best of three)."""
    torch.set_num_threads(1)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)

    def work() -> None:
        for _ in range(rounds):
            a @ b

    best = 0.0
    for _ in range(3):
        workers = [threading.Thread(target=work) for _ in range(width)]
        began = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        best = max(best, 2 * size**3 * rounds * width / (time.perf_counter() - began))
    return best


def flops_per_text(name: str, texts: list[str]) -> float:
    """The model's mean multiply-adds (x2) per text: its dense layers per token, plus
    attention's two products, which grow with the square of the tokens."""
    model = load_sentence_transformer(name)
    config: Any = getattr(model[0], "auto_model").config  # noqa: B009 (untyped module)
    hidden, layers, inner = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    counts = np.array(
        [
            len(
                model.tokenizer(text, truncation=True, max_length=model.max_seq_length)["input_ids"]
            )
            for text in texts
        ],
        dtype=np.float64,
    )
    dense = 2 * layers * (4 * hidden * hidden + 2 * hidden * inner) * counts
    attention = 2 * layers * 2 * hidden * counts**2
    return float(np.mean(dense + attention))


def same_nearest(reference: FloatArray, other: FloatArray) -> float:
    """Share of texts whose nearest other text is the same under both sets of unit vectors."""
    if len(reference) < 2:
        return 1.0
    similar = [vectors @ vectors.T for vectors in (reference, other)]
    for matrix in similar:
        np.fill_diagonal(matrix, -np.inf)
    return float(np.mean(similar[0].argmax(axis=1) == similar[1].argmax(axis=1)))


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:  # a missing or malformed corpus: one line, no traceback
        raise SystemExit(f"bench.embed: {exc}") from None

"""Embedding throughput and quality: both backends, bare and through the pipeline, one run.

    .venv/bin/python -m bench.embed [--corpus PATH.jsonl] [--limit 1000] [--repeat 1]

Every row embeds the same texts (``embedding_text`` of each article). "bare" is the loaded
model's ``encode`` on the list (``SentenceTransformer.encode`` for torch); "pipeline" is the
embed stage on a fresh SQLite database with that same model, adding the database read,
batching and writing the vectors. The ONNX int8 model is exported into a temporary cache
first, and the time that takes is printed once. Quality compares the ONNX int8 vectors
with the torch vectors of the same texts: cosine, and how often a text's nearest neighbour
among the benchmark texts is the same. With ``--repeat N`` each row is the best of N runs.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from models import Article, Feed
from models.types import FloatArray
from pipeline.db import make_engine, migrate, session_scope
from pipeline.embed.backends import Embedder, load_embedder
from pipeline.embed.backends.onnx_int8 import OnnxInt8Embedder
from pipeline.embed.stage import embed
from pipeline.errors import ConfigError
from pipeline.evaluate import LabelledArticle, load_corpus
from pipeline.ingest.parse import content_hash
from pipeline.settings import EmbedBackend, Settings
from pipeline.text import embedding_text

DEFAULT_CORPUS = (
    Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ecbplus.jsonl"
)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs per row")
    args = parser.parse_args()
    rows = load_corpus(args.corpus)[: args.limit]

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(model_cache_dir=Path(tmp) / "cache")
        texts = [embedding_text(r.title, r.text, settings.embed_text_chars) for r in rows]
        started = time.perf_counter()
        onnx = OnnxInt8Embedder(
            settings.model_name, offline=settings.hf_offline, cache_dir=settings.model_cache_dir
        )
        export = time.perf_counter() - started
        models: dict[EmbedBackend, Embedder] = {
            "torch": load_embedder(settings.model_name, settings.hf_offline),
            "onnx-int8": onnx,
        }
        vectors: dict[EmbedBackend, FloatArray] = {}
        seconds: dict[str, float] = {}
        for model in models.values():
            model.encode(texts[:32])  # warm up both alike
        for run in range(args.repeat):
            for backend, model in models.items():
                started = time.perf_counter()
                vectors[backend] = model.encode(texts)
                _keep_best(seconds, f"bare {backend}", time.perf_counter() - started)
            for backend, model in models.items():
                url = f"sqlite:///{Path(tmp) / f'{backend}-{run}.db'}"
                engine = make_engine(url)
                migrate(engine)
                _insert(engine, rows)
                stage = settings.model_copy(update={"database_url": url, "embed_backend": backend})
                started = time.perf_counter()
                report = embed(engine, stage, embedder=model)
                _keep_best(seconds, f"pipeline {backend}", time.perf_counter() - started)
                engine.dispose()
                assert report.embedded == len(rows), report

    chars = sum(len(t) for t in texts) / len(texts)
    print(
        f"embedding benchmark: {len(rows)} texts from {args.corpus.name}, mean {chars:.0f} chars, "
        f"{settings.model_name}, batch {settings.embed_batch_size}, best of {args.repeat}, "
        f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"ONNX int8 export (once; later runs load the cached file): {export:.1f} s")
    baseline = len(rows) / seconds["bare torch"]
    print(f"{'':42} {'seconds':>8} {'texts/s':>8} {'x torch':>8} {'x bare':>7}")
    labels = {
        "bare torch": "bare SentenceTransformer.encode (torch)",
        "pipeline torch": "pipeline embed stage, torch (SQLite)",
        "bare onnx-int8": "bare ONNX int8 encode",
        "pipeline onnx-int8": "pipeline embed stage, ONNX int8 (SQLite)",
    }
    for key, label in labels.items():
        rate = len(rows) / seconds[key]
        own_bare = len(rows) / seconds["bare " + key.split()[-1]]
        print(
            f"{label:42} {seconds[key]:8.2f} {rate:8.1f} {rate / baseline:8.2f} "
            f"{rate / own_bare:7.2f}"
        )
    cosine = np.sum(vectors["onnx-int8"] * vectors["torch"], axis=1)
    same, top3 = neighbour_agreement(vectors["torch"], vectors["onnx-int8"])
    print(
        f"ONNX int8 against torch, same texts: cosine mean {cosine.mean():.4f}, "
        f"min {cosine.min():.4f}; same nearest neighbour for {same:.1%} of texts, "
        f"torch's nearest among ONNX int8's 3 nearest for {top3:.1%}"
    )


def neighbour_agreement(reference: FloatArray, other: FloatArray) -> tuple[float, float]:
    """Share of texts whose nearest other text is the same under both sets of unit vectors,
    and share whose reference nearest is among the other's three nearest."""
    if len(reference) < 2:
        return 1.0, 1.0
    similar = [vectors @ vectors.T for vectors in (reference, other)]
    for matrix in similar:
        np.fill_diagonal(matrix, -np.inf)
    nearest = similar[0].argmax(axis=1)
    top3 = np.argsort(-similar[1], axis=1)[:, :3]
    return (
        float(np.mean(nearest == top3[:, 0])),
        float(np.mean((top3 == nearest[:, None]).any(axis=1))),
    )


def _keep_best(seconds: dict[str, float], key: str, took: float) -> None:
    seconds[key] = min(seconds.get(key, took), took)


def _insert(engine: Engine, rows: list[LabelledArticle]) -> None:
    with session_scope(engine) as session:
        feed = Feed(
            name="bench",
            url="bench",
            outlet="bench",
            enabled=False,
            created_at=NOW,
            updated_at=NOW,
            error_count=0,
        )
        session.add(feed)
        session.flush()
        for index, row in enumerate(rows):
            session.add(
                Article(
                    feed_id=feed.id,
                    guid=str(index),
                    url=None,
                    title=row.title,
                    summary=row.text,
                    published_at=NOW,
                    published_estimated=False,
                    fetched_at=NOW,
                    content_hash=content_hash(row.title, row.text),
                )
            )


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:  # a missing or malformed corpus: one line, no traceback
        raise SystemExit(f"bench.embed: {exc}") from None

"""Embedding throughput: the pipeline's embed stage against the bare model on the same texts.

    .venv/bin/python -m bench.embed [--corpus PATH.jsonl] [--limit 1000]

Both sides embed the same texts (``article_text`` of each article) with the same loaded
model; the baseline is ``SentenceTransformer.encode`` on the list, the pipeline adds the
database read, batching, and writing the vectors. Prints texts/s and the ratio.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from models import Article, Feed
from pipeline.db import make_engine, migrate, session_scope
from pipeline.embed import article_text, embed, load_embedder
from pipeline.parse import content_hash
from pipeline.settings import Settings

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
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines()][
        : args.limit
    ]

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings.load(database_url=url)
        engine = make_engine(url)
        migrate(engine)
        _insert(engine, rows)
        model = load_embedder(settings.model_name, settings.hf_offline)
        texts = [article_text(r["title"], r["text"] or "", settings.embed_text_chars) for r in rows]
        model.encode(texts[:32])  # warm up both sides alike

        started = time.perf_counter()
        model.encode(texts)
        bare = time.perf_counter() - started

        started = time.perf_counter()
        report = embed(engine, settings, embedder=model)
        pipeline = time.perf_counter() - started
        engine.dispose()

    assert report.embedded == len(rows), report
    chars = sum(len(t) for t in texts) / len(texts)
    print(
        f"embedding benchmark: {len(rows)} texts from {args.corpus.name}, mean {chars:.0f} chars, "
        f"{settings.model_name}, batch {settings.embed_batch_size}"
    )
    print(f"{'':34} {'seconds':>8} {'texts/s':>8} {'x bare':>7}")
    print(f"{'bare model.encode':34} {bare:8.2f} {len(rows) / bare:8.1f} {1.0:7.2f}")
    label = "pipeline embed stage (SQLite)"
    print(f"{label:34} {pipeline:8.2f} {len(rows) / pipeline:8.1f} {pipeline / bare:7.2f}")


def _insert(engine: Engine, rows: list[dict[str, str]]) -> None:
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
                    title=row["title"],
                    summary=row["text"] or "",
                    published_at=NOW,
                    published_estimated=False,
                    fetched_at=NOW,
                    content_hash=content_hash(row["title"], row["text"] or ""),
                )
            )


if __name__ == "__main__":
    main()

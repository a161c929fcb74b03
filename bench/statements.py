"""The longest database statements of cluster runs on PostgreSQL, against which
``STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS`` (default 300) is set.

    .venv/bin/python -m bench.statements [--articles 10000] [--stories 20000]
        [--postgres URL]

A scratch database on the server of ``--postgres`` (default: ``STORYLINE_TEST_PG_URL``, else
the local one) gets ``--stories`` dormant older stories (as ``bench.older`` makes them) and
a window of ``--articles`` articles with embeddings (``bench.cluster``'s synthetic window:
80 % in topics of 2-60 articles), and the vector indexes the embed stage would build.
Then three cluster runs, each timed statement by statement (from sending a statement to
its last row fetched): the first creates the window's stories, the second finds the window
unchanged, the third runs on the window with a tenth more articles, continuing the stories.
Printed: each run's wall time, its statements and their total time, and its five longest
statements with their first words.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, event, insert

from bench.cluster import window
from bench.older import fill, scratch_postgres, unit_rows
from models import Article, Embedding, Feed
from pipeline.db import migrate, session_scope
from pipeline.settings import Settings
from pipeline.stories.stage import cluster
from pipeline.vector_index import ensure_vector_indexes

NOW = datetime(2025, 6, 1, tzinfo=UTC)
MODEL = "bench"
BATCH = 5000
DEFAULT_SERVER = os.environ.get(
    "STORYLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def add_window(engine: Engine, vectors: np.ndarray, start: int, feed_id: int) -> None:
    """Articles ``start``.. with these vectors, published in the 72 hours before ``NOW``."""
    span = timedelta(hours=71).total_seconds()
    with session_scope(engine) as session:
        for offset in range(0, vectors.shape[0], BATCH):
            chunk = vectors[offset : offset + BATCH]
            first = start + offset
            session.execute(
                insert(Article),
                [
                    {
                        "id": first + i + 1,
                        "feed_id": feed_id,
                        "guid": f"window-{first + i}",
                        "title": f"Report {first + i} on Topic{int(abs(vector[0]) * 997)} "
                        f"in Place{int(abs(vector[1]) * 991)}",
                        "summary": "A report of one more event, told again by another outlet.",
                        "published_at": NOW - timedelta(seconds=span * (first + i) / 25000),
                        "fetched_at": NOW,
                        "content_hash": f"w{first + i:063d}",
                    }
                    for i, vector in enumerate(chunk)
                ],
            )
            session.execute(
                insert(Embedding),
                [
                    {
                        "article_id": first + i + 1,
                        "model": MODEL,
                        "model_version": "bench",
                        "dim": chunk.shape[1],
                        "vector": vector,
                        "content_hash": f"w{first + i:063d}",
                        "created_at": NOW,
                    }
                    for i, vector in enumerate(chunk)
                ],
            )


@contextmanager
def statement_times(engine: Engine) -> Iterator[list[tuple[float, str]]]:
    """Every statement's seconds and its first words, while the block runs."""
    times: list[tuple[float, str]] = []

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info["bench_started"].pop()
        times.append((time.perf_counter() - started, " ".join(statement.split())[:90]))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield times
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def timed_run(engine: Engine, settings: Settings, name: str) -> None:
    with statement_times(engine) as times:
        started = time.perf_counter()
        report = cluster(engine, settings, NOW)
        seconds = time.perf_counter() - started
    total = sum(t for t, _ in times)
    print(
        f"{name}: {seconds:.1f} s, {report.articles} articles, {report.stories_created} "
        f"stories created, {len(times)} statements taking {total:.1f} s; the longest:"
    )
    for took, words in sorted(times, reverse=True)[:5]:
        print(f"  {took:8.2f} s  {words}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=10000)
    parser.add_argument("--stories", type=int, default=20000)
    parser.add_argument("--postgres", default=DEFAULT_SERVER)
    args = parser.parse_args()
    settings = Settings.load(model_name=MODEL)
    with scratch_postgres(args.postgres) as engine:
        migrate(engine)
        with session_scope(engine) as session:
            feed = Feed(name="bench", url="bench", outlet="bench", created_at=NOW, updated_at=NOW)
            session.add(feed)
        fill(engine, unit_rows(np.random.default_rng(1), args.stories), 0)
        vectors = window(args.articles + args.articles // 10)
        add_window(engine, vectors[: args.articles], 0, feed.id)
        ensure_vector_indexes(engine, vectors.shape[1])  # as the embed stage builds them
        timed_run(engine, settings, "first run")
        timed_run(engine, settings, "unchanged")
        add_window(engine, vectors[args.articles :], args.articles, feed.id)
        timed_run(engine, settings, "a tenth more")


if __name__ == "__main__":
    main()

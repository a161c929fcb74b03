"""Finding the older stories a new cluster or a lone article may continue, as stories pile up.

    .venv/bin/python -m bench.older [--stories 2000,20000,100000] [--queries 500]
        [--postgres URL]

Stories never expire, so the story table only grows. Each clustering asks, for every new
cluster and every article no cluster took, which older stories have a centroid close
enough (``cluster._older_near``): on PostgreSQL through pgvector's HNSW index on
``stories.centroid``, elsewhere by scanning the live stories in batches. This times that
lookup for ``--queries`` vectors (half of them close to some story, half unrelated) against
story tables of growing size, in a scratch SQLite file and, when ``--postgres`` names a
server (default: the local one; ``--postgres ''`` skips it), in a scratch database there.

The first size of each backend is the baseline for its ratios. The story table is
ANALYZEd after loading, as autovacuum or the maintenance DAG would do: with stale
statistics PostgreSQL's planner may sort the whole table instead of walking the index.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from models import Story
from pipeline.db import make_engine, migrate, session_scope
from pipeline.stories.stage import _older_near

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DIM = 384


def unit_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    rows = rng.normal(size=(count, DIM)).astype(np.float32)
    unit: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


def fill(engine: Engine, centroids: np.ndarray, start: int) -> None:
    """Add stories ``start``.. with these centroids: dormant, last seen long ago."""
    with session_scope(engine) as session:
        for offset in range(0, centroids.shape[0], 5000):
            chunk = centroids[offset : offset + 5000]
            session.execute(
                insert(Story),
                [
                    {
                        "title": f"story {start + offset + i}",
                        "article_count": 3,
                        "source_count": 2,
                        "original_count": 3,
                        "first_seen": T0,
                        "last_seen": T0 + timedelta(minutes=start + offset + i),
                        "model": "bench",
                        "status": "dormant",
                        "created_at": T0,
                        "updated_at": T0,
                        "centroid": vector,
                    }
                    for i, vector in enumerate(chunk)
                ],
            )
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("ANALYZE stories")
            )


def queries(rng: np.random.Generator, stories: np.ndarray, count: int) -> np.ndarray:
    """Half near a story (cosine ~0.9), half unrelated."""
    near = stories[rng.choice(stories.shape[0], count // 2, replace=False)]
    near = near + rng.normal(scale=0.018, size=near.shape).astype(np.float32)
    rows = np.vstack([near, unit_rows(rng, count - count // 2)])
    unit: np.ndarray = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return unit


def run(name: str, engine: Engine, sizes: list[int], count: int) -> None:
    migrate(engine)
    rng = np.random.default_rng(0)
    centroids = unit_rows(rng, max(sizes))
    loaded = 0
    first = None
    for size in sizes:
        fill(engine, centroids[loaded:size], loaded)
        loaded = size
        wanted = queries(rng, centroids[:size], count)
        with session_scope(engine) as session:
            started = time.perf_counter()
            found = _older_near(
                session, dict(enumerate(wanted)), T0 + timedelta(days=3650), set(), 0.8
            )
            seconds = time.perf_counter() - started
        first = first or seconds
        print(
            f"{name:>10} {size:9d} {count:8d} {seconds:9.2f} {1000 * seconds / count:9.2f} "
            f"{len(found):6d} {seconds / first:8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", default="2000,20000,100000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1/postgres")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.stories.split(","))
    print(f"older-story lookup: {args.queries} queries (half near a story), cosine >= 0.8")
    print(
        f"{'backend':>10} {'stories':>9} {'queries':>8} {'seconds':>9} {'ms/query':>9} "
        f"{'found':>6} {'x first':>8}"
    )
    with tempfile.TemporaryDirectory(prefix="storyline-bench-older-") as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'older.db'}")
        run("sqlite", engine, sizes, args.queries)
        engine.dispose()
    if not args.postgres:
        return
    server = make_url(args.postgres)
    database = f"storyline_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server.render_as_string(hide_password=False))
    with admin.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f'CREATE DATABASE "{database}"')
        )
    try:
        engine = make_engine(server.set(database=database).render_as_string(hide_password=False))
        run("postgresql", engine, sizes, args.queries)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f'DROP DATABASE IF EXISTS "{database}"')
            )
        admin.dispose()


if __name__ == "__main__":
    main()

"""Finding the older stories a new cluster or a lone article may continue, and the older
lone articles a lone article may pair with, as both pile up.

    .venv/bin/python -m bench.older [--stories 2000,20000,100000] [--queries 500]
        [--articles 20000,100000] [--lonely 500] [--postgres URL]

Stories never expire, so the story table only grows. Each clustering asks, for every new
cluster and every article no cluster took, which older stories have a centroid close
enough (``stories.state.older_near``): on PostgreSQL through pgvector's HNSW index on
``stories.centroid``, elsewhere by scanning the live stories in batches. This times that
lookup for ``--queries`` vectors (half of them close to some story, half unrelated) against
story tables of growing size, in a scratch SQLite file and, when ``--postgres`` names a
server (default: the local one; ``--postgres ''`` skips it), in a scratch database there.

The first size of each backend is the baseline for its ratios. The story table is
ANALYZEd after loading, as autovacuum or the maintenance DAG would do: with stale
statistics PostgreSQL's planner may sort the whole table instead of walking the index.

Second, ``stories.state.older_lonely``: for ``--lonely`` lone articles (half near some older
article, half unrelated), the articles published before the window that no story holds
and are close enough to pair with, scanned in batches on both backends, against growing
numbers of such articles. The scan is linear: its ratio should follow the sizes'.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url

from models import Article, Embedding, Feed, Story
from pipeline.db import make_engine, migrate, session_scope
from pipeline.settings import Settings
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.knobs import MatchKnobs
from pipeline.stories.state import older_lonely, older_near

T0 = datetime(2025, 1, 1, tzinfo=UTC)
DIM = 384
MODEL = "bench"
BATCH = 5000


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
            found = older_near(
                session, dict(enumerate(wanted)), T0 + timedelta(days=3650), set(), 0.8
            )
            seconds = time.perf_counter() - started
        first = first or seconds
        print(
            f"{name:>10} {size:9d} {count:8d} {seconds:9.2f} {1000 * seconds / count:9.2f} "
            f"{len(found):6d} {seconds / first:8.2f}"
        )


def fill_lonely(engine: Engine, vectors: np.ndarray, start: int, feed_id: int) -> None:
    """Add lone articles ``start``.. with these vectors, published before the window."""
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
                        "guid": f"article-{first + i}",
                        "title": f"Article {first + i} names Person{first + i}",
                        "summary": "A report of one more event.",
                        "published_at": T0 + timedelta(minutes=first + i),
                        "fetched_at": T0,
                        "content_hash": f"{first + i:064d}",
                    }
                    for i in range(chunk.shape[0])
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
                        "content_hash": f"{first + i:064d}",
                        "created_at": T0,
                    }
                    for i, vector in enumerate(chunk)
                ],
            )


def run_lonely(name: str, engine: Engine, sizes: list[int], count: int) -> None:
    migrate(engine)
    with session_scope(engine) as session:
        feed = Feed(name="bench", url="bench", outlet="bench", created_at=T0, updated_at=T0)
        session.add(feed)
        session.flush()
        feed_id = feed.id
    knobs = MatchKnobs.of(Settings(model_name=MODEL))
    rng = np.random.default_rng(0)
    vectors = unit_rows(rng, max(sizes))
    loaded = 0
    first = None
    for size in sizes:
        fill_lonely(engine, vectors[loaded:size], loaded, feed_id)
        loaded = size
        lonely = queries(rng, vectors[:size], count)
        with session_scope(engine) as session:
            started = time.perf_counter()
            found = older_lonely(
                session,
                np.full(count, NOISE),
                lonely,
                T0 + timedelta(days=3650),
                knobs,
            )
            seconds = time.perf_counter() - started
        first = first or seconds
        print(
            f"{name:>10} {size:9d} {count:8d} {seconds:9.2f} {seconds / first:8.2f} "
            f"{size / sizes[0]:8.1f} {len(found):6d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stories", default="2000,20000,100000")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--articles", default="20000,100000")
    parser.add_argument("--lonely", type=int, default=500)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1/postgres")
    args = parser.parse_args()
    stories = sorted(int(s) for s in args.stories.split(","))
    articles = sorted(int(s) for s in args.articles.split(","))

    print(f"older-story lookup: {args.queries} queries (half near a story), cosine >= 0.8")
    print(
        f"{'backend':>10} {'stories':>9} {'queries':>8} {'seconds':>9} {'ms/query':>9} "
        f"{'found':>6} {'x first':>8}"
    )
    on_each_backend(args.postgres, lambda name, engine: run(name, engine, stories, args.queries))
    print(f"\nolder lone articles: {args.lonely} lone articles (half near one), cosine >= 0.8")
    print(
        f"{'backend':>10} {'older':>9} {'lonely':>8} {'seconds':>9} {'x first':>8} "
        f"{'x size':>8} {'found':>6}"
    )
    on_each_backend(
        args.postgres, lambda name, engine: run_lonely(name, engine, articles, args.lonely)
    )


def on_each_backend(postgres: str, measure: Callable[[str, Engine], None]) -> None:
    """Measure in a scratch SQLite file, then, when ``postgres`` names a server, in a scratch
    database there."""
    with tempfile.TemporaryDirectory(prefix="storyline-bench-older-") as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'older.db'}")
        measure("sqlite", engine)
        engine.dispose()
    if postgres:
        with scratch_postgres(postgres) as engine:
            measure("postgresql", engine)


@contextmanager
def scratch_postgres(url: str) -> Iterator[Engine]:
    """An engine on a new, empty database of the server at ``url``; dropped after."""
    server = make_url(url)
    database = f"storyline_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server.render_as_string(hide_password=False))
    with admin.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            text(f'CREATE DATABASE "{database}"')
        )
    try:
        engine = make_engine(server.set(database=database).render_as_string(hide_password=False))
        try:
            yield engine
        finally:
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text(f'DROP DATABASE IF EXISTS "{database}"')
            )
        admin.dispose()


if __name__ == "__main__":
    main()

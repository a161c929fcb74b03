"""The HTTP API under load, from a second process on loopback, against PostgreSQL.

    .venv/bin/python -m bench.api [--stories 10000] [--articles 100000] [--seconds 5]
                                  [--clients 4] [--before-0007]

A scratch PostgreSQL database (``STORYLINE_TEST_PG_URL``, else ``postgres@127.0.0.1:5432``;
dropped afterwards) is migrated and filled by COPY with synthetic but realistic rows:
30 outlets with two feeds each, ``--articles`` articles over 30 days, ``--stories``
stories of Zipf-like sizes (most small, a few with hundreds of articles) whose membership,
hourly timeline and lineage events follow from their articles, and one successful cluster
run whose clock is the newest article. ``storyline serve`` runs in a subprocess; this
process drives it with ``--clients`` threads, each with its own keep-alive connection,
for ``--seconds`` per endpoint, and prints requests/s, p50 and p99 latency per endpoint
and their ratios to ``/api/health`` (one indexed count: the cost of the HTTP stack and a
session, which is the floor for every other endpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipeline.db import make_engine, migrate

PG_ADMIN_URL = os.environ.get(
    "STORYLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CLOCK = datetime(2026, 11, 1, 12, tzinfo=UTC)
WORDS = [
    "election",
    "summit",
    "strike",
    "flood",
    "ceasefire",
    "budget",
    "court",
    "protest",
    "merger",
    "vaccine",
    "earthquake",
    "wildfire",
    "tariff",
    "inquiry",
    "rescue",
    "satellite",
    "drought",
    "refinery",
    "verdict",
    "border",
    "pipeline",
    "scandal",
    "reform",
    "storm",
    "embassy",
    "launch",
    "recall",
    "outbreak",
    "stadium",
    "harvest",
]
PLACES = [
    "paris",
    "berlin",
    "lagos",
    "lima",
    "kyiv",
    "manila",
    "cairo",
    "quito",
    "oslo",
    "hanoi",
    "dhaka",
    "accra",
    "madrid",
    "seoul",
    "nairobi",
    "dakar",
    "bogota",
    "lisbon",
    "tehran",
    "jakarta",
]


def copy_rows(cursor: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill(
    url: str, n_stories: int, n_articles: int, *, before_0007: bool = False, seed: int = 0
) -> dict[str, Any]:
    """Write the synthetic corpus; returns what the load needs (ids, an outlet, a word)."""
    rng = random.Random(seed)
    outlets = [f"Outlet {i:02d}" for i in range(30)]
    feeds = [(i + 1, f"feed-{i}", outlets[i % 30]) for i in range(60)]
    # Zipf-like story sizes summing to the article count: most stories small, a few huge.
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(n_stories)]
    scale = n_articles / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[0] += n_articles - sum(sizes)
    rng.shuffle(sizes)
    span = timedelta(days=30).total_seconds()
    articles: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    stories: list[tuple[Any, ...]] = []
    hours: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    article_id = 0
    for story_id, size in enumerate(sizes, start=1):
        # A story lives from a few hours to a few days, somewhere in the 30 days.
        start = CLOCK - timedelta(seconds=rng.uniform(0, span))
        length = timedelta(hours=rng.uniform(2, 96))
        words = rng.sample(WORDS, 3) + rng.sample(PLACES, 2)
        title = f"{words[3].title()} {words[0]} {words[1]} as {words[2]} spreads"
        published: list[datetime] = []
        story_outlets: set[str] = set()
        per_hour: dict[datetime, list[str]] = defaultdict(list)
        for _ in range(size):
            article_id += 1
            at = min(CLOCK, start + length * rng.random())
            feed_id, name, outlet = feeds[rng.randrange(len(feeds))]
            articles.append(
                (
                    article_id,
                    feed_id,
                    f"{name}:{article_id}",
                    f"https://{name}.example/{article_id}",
                    f"{title} ({outlet}, {article_id})",
                    "Synthetic body. " * 8,
                    at,
                    False,
                    at,
                    "en",
                    f"{article_id:064x}",
                )
            )
            members.append((article_id, story_id, at))
            published.append(at)
            story_outlets.add(outlet)
            per_hour[at.replace(minute=0, second=0, microsecond=0)].append(outlet)
        first, last = min(published), max(published)
        status = "active" if CLOCK - last < timedelta(hours=72) else "dormant"
        stories.append(
            (
                story_id,
                title,
                size,
                len(story_outlets),
                size,
                first,
                last,
                "bench",
                status,
                json.dumps(words),
                first,
                last,
            )
        )
        hours.extend(
            (story_id, hour, len(names), len(set(names))) for hour, names in per_hour.items()
        )
        events.append((story_id, first, "created", size))
        if size > 5:
            events.append((story_id, last, "grew", size))
        if status == "dormant":
            events.append((story_id, last + timedelta(hours=72), "dormant", size))
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        copy_rows(
            cursor,
            "feeds",
            ["id", "name", "url", "outlet", "enabled", "created_at", "updated_at", "error_count"],
            [(i, n, f"https://{n}.example/rss", o, True, CLOCK, CLOCK, 0) for i, n, o in feeds],
        )
        copy_rows(
            cursor,
            "articles",
            [
                "id",
                "feed_id",
                "guid",
                "url",
                "title",
                "summary",
                "published_at",
                "published_estimated",
                "fetched_at",
                "language",
                "content_hash",
            ],
            articles,
        )
        copy_rows(
            cursor,
            "stories",
            [
                "id",
                "title",
                "article_count",
                "source_count",
                "original_count",
                "first_seen",
                "last_seen",
                "model",
                "status",
                "keywords",
                "created_at",
                "updated_at",
            ],
            stories,
        )
        copy_rows(cursor, "story_articles", ["article_id", "story_id", "since"], members)
        copy_rows(
            cursor, "story_hours", ["story_id", "hour", "article_count", "outlet_count"], hours
        )
        copy_rows(cursor, "story_events", ["story_id", "at", "kind", "article_count"], events)
        conn.execute(
            text(
                "INSERT INTO cluster_runs (started_at, finished_at, now, window_start, model, "
                "status, input_hash, params) VALUES (:t, :t, :t, :w, 'bench', 'ok', 'bench', '{}')"
            ),
            {"t": CLOCK, "w": CLOCK - timedelta(hours=72)},
        )
        for table in ("feeds", "articles", "stories"):
            conn.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
        if before_0007:  # the indexes as they were before migration 0007
            conn.execute(text("DROP INDEX ix_articles_feed_id_id"))
            conn.execute(text("DROP INDEX ix_articles_published_at_id"))
            conn.execute(text("CREATE INDEX ix_articles_published_at ON articles (published_at)"))
    # Vacuumed, as the maintenance DAG leaves it: index-only scans need the visibility map.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    # Stories of the mean size (the median story has two articles; the mean one, ten).
    mean = round(n_articles / n_stories)
    typical = [i for i, size in enumerate(sizes, start=1) if size == mean]
    return {"outlet": outlets[7], "word": "harvest", "story_ids": typical, "size": mean}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load(base: str, paths: list[str], seconds: float, clients: int) -> dict[str, float]:
    """``clients`` threads request ``paths`` round robin for ``seconds``; latency in ms."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[int] = [0] * clients
    stop = time.perf_counter() + seconds

    def client(index: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            i = index
            while time.perf_counter() < stop:
                began = time.perf_counter()
                response = http.get(paths[i % len(paths)])
                latencies[index].append((time.perf_counter() - began) * 1000)
                if response.status_code != 200:
                    errors[index] += 1
                i += 1

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(ms for per_client in latencies for ms in per_client)
    return {
        "requests": len(every),
        "rps": len(every) / elapsed,
        "p50": every[len(every) // 2],
        "p99": every[min(len(every) - 1, int(len(every) * 0.99))],
        "errors": sum(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--before-0007",
        action="store_true",
        help="Measure with the article indexes as they were before migration 0007.",
    )
    args = parser.parse_args()

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"storyline_bench_api_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        began = time.perf_counter()
        corpus = fill(url, args.stories, args.articles, before_0007=args.before_0007)
        print(
            f"filled {args.stories} stories, {args.articles} articles in "
            f"{time.perf_counter() - began:.1f} s"
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--db", url]
        with subprocess.Popen(command, stderr=subprocess.DEVNULL) as server:
            try:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        httpx.get(f"{base}/api/health", timeout=2).raise_for_status()
                        break
                    except httpx.TransportError:
                        if server.poll() is not None or time.monotonic() > deadline:
                            raise SystemExit("storyline serve did not start") from None
                        time.sleep(0.2)
                run(base, corpus, args.seconds, args.clients)
            finally:
                server.terminate()
                server.wait(timeout=10)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(base: str, corpus: dict[str, Any], seconds: float, clients: int) -> None:
    ids = corpus["story_ids"][:50]
    cases = {
        "GET /api/health (baseline)": ["/api/health"],
        "GET /api/stories": ["/api/stories"],
        "GET /api/stories?q=word": [f"/api/stories?q={corpus['word']}"],
        "GET /api/stories?outlet=": [f"/api/stories?outlet={corpus['outlet']}"],
        "GET /api/stories?order=recent&offset=200": ["/api/stories?order=recent&offset=200"],
        f"GET /api/stories/{{id}} ({corpus['size']} articles)": [f"/api/stories/{i}" for i in ids],
    }
    load(base, ["/api/health", "/api/stories"], 1.0, clients)  # warm up connections and caches
    results = {label: load(base, paths, seconds, clients) for label, paths in cases.items()}
    baseline = results["GET /api/health (baseline)"]
    print(f"{clients} clients, {seconds:.0f} s per endpoint, server: 1 uvicorn process")
    print(
        f"{'endpoint':44} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'rps/base':>9} {'p50/base':>9} {'errors':>7}"
    )
    for label, r in results.items():
        print(
            f"{label:44} {r['rps']:8.0f} {r['p50']:8.1f} {r['p99']:8.1f} "
            f"{r['rps'] / baseline['rps']:9.2f} {r['p50'] / baseline['p50']:9.2f} "
            f"{r['errors']:7.0f}"
        )


if __name__ == "__main__":
    main()

"""Ingest throughput: N generated feeds served by a local HTTP server.

    .venv/bin/python -m bench.ingest [--feeds 200] [--entries 20] [--db sqlite|postgresql]

Three passes over the same feeds, measured in the same run:
1. first fetch: fetch + parse + store every entry (the baseline);
2. unchanged, conditional GET: the server answers 304 to the stored ETag;
3. unchanged, no ETag support: the server resends the same 200 body, so every feed is
   fetched, parsed and looked up again, and nothing is stored.
Figures are feeds/s and entries/s, and each pass's time as a ratio of pass 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from pipeline.db import make_engine, migrate, session_scope
from pipeline.ingest.feeds import FeedSpec, sync_feeds
from pipeline.ingest.stage import IngestReport, ingest
from pipeline.settings import Settings
from tests.feedserver import FeedServer, RecordedRequest, Response

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
WORDS = [
    "government",
    "minister",
    "said",
    "officials",
    "city",
    "police",
    "court",
    "election",
    "market",
    "storm",
    "report",
    "health",
    "school",
    "energy",
    "river",
    "bridge",
    "council",
    "museum",
    "festival",
    "team",
    "match",
    "season",
]


def feed_body(feed: int, entries: int) -> bytes:
    items = []
    for entry in range(entries):
        words = " ".join(WORDS[(feed * 7 + entry * 3 + k) % len(WORDS)] for k in range(40))
        published = format_datetime(NOW - timedelta(minutes=entry * 30 + feed))
        items.append(
            f"<item><title>Feed {feed} story {entry}: {words[:60]}</title>"
            f"<link>https://outlet{feed}.example/news/{entry}</link>"
            f"<guid>outlet{feed}-{entry}</guid><pubDate>{published}</pubDate>"
            f"<description>&lt;p&gt;{words}&lt;/p&gt;</description></item>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {feed}</title>{''.join(items)}</channel></rss>"
    ).encode()


def responder(
    body: bytes, etag: str, conditional: Callable[[], bool]
) -> Callable[[RecordedRequest], Response]:
    def respond(request: RecordedRequest) -> Response:
        if conditional() and request.headers.get("if-none-match") == etag:
            return Response(304, {"ETag": etag})
        return Response(200, {"Content-Type": "application/rss+xml", "ETag": etag}, body)

    return respond


def timed(
    label: str, run: Callable[[], IngestReport], entries_per_feed: int
) -> tuple[str, float, IngestReport]:
    started = time.perf_counter()
    report = run()
    return label, time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, FeedServer() as server:
        url, cleanup = database(args.db, Path(tmp))
        try:
            run(server, url, args.feeds, args.entries)
        finally:
            cleanup()


def database(kind: str, tmp: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", lambda: None
    admin = create_engine(
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    name = f"storyline_bench_{int(time.time())}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", drop


def run(server: FeedServer, url: str, feeds: int, entries: int) -> None:
    conditional = {"on": True}
    for feed in range(feeds):
        server.respond(
            f"/feed{feed}.xml",
            responder(feed_body(feed, entries), f'W/"v1-{feed}"', lambda: conditional["on"]),
        )
    engine = make_engine(url)
    migrate(engine)
    specs = [FeedSpec(name=f"feed{i}", url=server.url(f"/feed{i}.xml")) for i in range(feeds)]
    with session_scope(engine) as session:
        sync_feeds(session, specs, NOW)
    settings = Settings.load(database_url=url)

    passes = [
        timed(
            "1. first fetch (store all)",
            lambda: ingest(engine, settings, now=NOW, force=True),
            entries,
        )
    ]
    passes.append(
        timed(
            "2. unchanged, conditional GET (304)",
            lambda: ingest(engine, settings, now=NOW + timedelta(minutes=1), force=True),
            entries,
        )
    )
    conditional["on"] = False
    passes.append(
        timed(
            "3. unchanged, no ETag support (200)",
            lambda: ingest(engine, settings, now=NOW + timedelta(minutes=2), force=True),
            entries,
        )
    )
    engine.dispose()

    print(
        f"ingest benchmark: {feeds} feeds x {entries} entries, {url.split(':')[0]}, "
        f"concurrency {settings.fetch_concurrency}, {settings.fetch_per_host} per host"
    )
    print(
        f"{'pass':40} {'seconds':>8} {'feeds/s':>9} {'entries/s':>10} {'new':>6} {'304':>5} "
        f"{'x pass 1':>9}"
    )
    baseline = passes[0][1]
    for label, seconds, report in passes:
        print(
            f"{label:40} {seconds:8.2f} {feeds / seconds:9.1f} {feeds * entries / seconds:10.1f} "
            f"{report.new_articles:6d} {report.not_modified:5d} {seconds / baseline:9.2f}"
        )


if __name__ == "__main__":
    main()

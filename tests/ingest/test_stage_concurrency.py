"""Many feeds at once, never more than the per-host bound against one server."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from models import Article
from pipeline.db import session_scope
from pipeline.ingest.feeds import load_feeds_file, sync_feeds
from pipeline.ingest.stage import ingest
from pipeline.settings import Settings
from tests.feedserver import FeedServer, RecordedRequest, Response

NOW = datetime(2015, 11, 18, 12, tzinfo=UTC)


class Gauge:
    """Counts requests in flight per Host header while each takes a while to answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0

    def respond(self, request: RecordedRequest) -> Response:
        host = request.headers["host"].split(":")[0]
        with self.lock:
            self.now[host] = self.now.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.now[host])
            self.peak_total = max(self.peak_total, sum(self.now.values()))
        time.sleep(0.15)
        with self.lock:
            self.now[host] -= 1
        name = request.path.strip("/").removesuffix(".xml")
        body = (
            f'<rss version="2.0"><channel><title>{name}</title><item><title>Item of {name}</title>'
            f"<link>https://{name}.example/1</link></item></channel></rss>"
        ).encode()
        return Response(200, {"Content-Type": "application/rss+xml"}, body)


def test_fetches_overlap_but_respect_the_per_host_bound(
    db_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = Settings.load(database_url=db_url, fetch_concurrency=6, fetch_per_host=2)
    gauge = Gauge()
    with FeedServer() as server:
        lines = []
        for i in range(8):
            server.respond(f"/f{i}.xml", gauge.respond)
            # two host names for the same server: 127.0.0.1 and localhost
            url = server.url(f"/f{i}.xml")
            if i % 2:
                url = url.replace("127.0.0.1", "localhost")
            lines.append(f"  - {{name: f{i}, url: '{url}'}}\n")
        (tmp_path / "feeds.yaml").write_text("feeds:\n" + "".join(lines), encoding="utf-8")
        with session_scope(engine) as session:
            sync_feeds(session, load_feeds_file(tmp_path / "feeds.yaml"), NOW)
        report = ingest(engine, settings, now=NOW)
    assert (report.feeds, report.failed, report.new_articles) == (8, 0, 8)
    assert gauge.peak == {"127.0.0.1": 2, "localhost": 2}
    # the two hosts were served at the same time: 2 + 2 requests in flight
    assert gauge.peak_total == 4
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 8

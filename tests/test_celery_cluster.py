"""The DAGs on a real Airflow cluster with the CeleryExecutor: not ``dag.test()``.

As a data engineer deploys it, on this machine: PostgreSQL metadata, Redis broker, the
api-server, scheduler, dag-processor and two Celery workers as separate processes from
the project's venv (``tests/celery_cluster.py``), the demo feeds served over local HTTP
with their dates moved to now (``storyline demo-feeds``, the deployment's demo), the feed
registry synced with ``storyline feeds sync``, plus a small teaser feed whose items link to
article pages (the demo feeds keep their own text). One trigger of ``storyline_ingest``
must chain through the assets to extract (the teaser's page read), embed and cluster runs
that build multi-outlet stories, with tasks on both workers; a second trigger must change
nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from models import Article, Embedding, Feed
from pipeline.db import make_engine, migrate, session_scope
from pipeline.serve.api import create_app
from pipeline.settings import Settings
from tests.celery_cluster import CeleryCluster, on_two_hosts
from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database
from tests.demo_labels import LABELS, STORIES, demo_stories
from tests.extract.test_stage import BODY, TEASER, TITLE, page
from tests.factories import row_counts
from tests.feedserver import FeedServer

REPO = Path(__file__).resolve().parents[1]
STORYLINE = str(Path(sys.executable).parent / "storyline")
CHAIN = ("storyline_ingest", "storyline_extract", "storyline_embed", "storyline_cluster")
TEASER_FEED = "teaser-courier"

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.celery]


@pytest.fixture
def stories_url(pg_admin: Engine) -> Iterator[str]:
    url = create_pg_database(pg_admin, "storyline_celery")
    engine = make_engine(url)
    migrate(engine)  # what `storyline init` does
    engine.dispose()
    try:
        yield url
    finally:
        drop_pg_database(pg_admin, url)


def teaser_feed(site: FeedServer) -> bytes:
    """Two items, published an hour ago, with the feed's teaser only: one links to its page,
    the other to a page the site took down (404)."""
    published = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    items = "".join(
        f"<item><title>{title}</title><link>{site.url(path)}</link><guid>{path}</guid>"
        f"<pubDate>{published}</pubDate><description>{TEASER}</description></item>"
        for path, title in (("/news/raid", TITLE), ("/news/gone", "A story the site took down"))
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>C</title>{items}</channel></rss>'.encode()


@pytest.fixture
def teaser_site() -> Iterator[FeedServer]:
    """A news site whose feed carries teasers and whose article pages are served."""
    with FeedServer() as site:
        site.route("/feed.xml", teaser_feed(site), headers={"Content-Type": "application/rss+xml"})
        site.route("/news/raid", page(TITLE, BODY), headers={"Content-Type": "text/html"})
        yield site


@pytest.fixture
def demo_feeds(tmp_path: Path, stories_url: str, teaser_site: FeedServer) -> Iterator[Path]:
    """``storyline demo-feeds`` serving, and its feeds file (with the teaser site's feed)
    synced into the stories database."""
    feeds_file = tmp_path / "demo-feeds.yaml"
    server = subprocess.Popen(
        [STORYLINE, "demo-feeds", "--port", "0", "--write-feeds", str(feeds_file)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        banner = server.stderr.readline()
        assert banner.startswith("demo-feeds: serving 6 demo feeds on http://127.0.0.1:"), banner
        feeds = on_two_hosts(feeds_file.read_text(encoding="utf-8"))
        feeds.append(
            {"name": TEASER_FEED, "url": teaser_site.url("/feed.xml"), "outlet": "Teaser Courier"}
        )
        feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        synced = subprocess.run(
            [STORYLINE, "feeds", "sync", str(feeds_file), "--db", stories_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert synced.returncode == 0, synced.stderr
        assert "7 added" in synced.stderr
        yield feeds_file
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()


def record_fields(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [record for record in records if record.get("event") == event]


def test_the_dags_on_a_celery_cluster_with_two_workers(
    tmp_path: Path, stories_url: str, demo_feeds: Path, teaser_site: FeedServer
) -> None:
    stories = make_engine(stories_url)
    home = tmp_path / "airflow"
    extra = {
        "STORYLINE_EMBED_TASK_BATCH": "12",
        "STORYLINE_INGEST_TASK_FEEDS": "3",
        # the teaser site's pages are on 127.0.0.1
        "STORYLINE_PAGE_ALLOW_PRIVATE_ADDRESSES": "true",
    }
    with CeleryCluster(home, PG_ADMIN_URL, stories_url, workers=2, extra_env=extra) as cluster:
        print(f"cluster up in {cluster.startup_seconds:.1f}s")
        assert all(row["is_paused"] for row in cluster.query("SELECT is_paused FROM dag"))

        # 1. Trigger while paused (the run waits), then unpause the chain: as a user would.
        before = cluster.run_ids(CHAIN)
        triggered = time.monotonic()
        first = cluster.trigger("storyline_ingest")
        cluster.unpause(*CHAIN)
        cluster.wait_for(lambda: row_counts(stories)["stories"] > 0, "the first stories", 300)
        print(f"trigger to first stories: {time.monotonic() - triggered:.1f}s")
        cluster.settle(CHAIN, before)

        runs = {dag_id: cluster.runs(dag_id) for dag_id in CHAIN}
        # The manual run, and the scheduled one that unpausing starts, run one after the
        # other (one active run); whichever comes first fetches, the other finds nothing due.
        assert first in {r["run_id"] for r in runs["storyline_ingest"]}
        assert {r["state"] for r in runs["storyline_ingest"]} == {"success"}, runs
        fetched = {
            ti["run_id"]
            for ti in cluster.task_instances("storyline_ingest")
            if ti["task_id"] == "fetch_feeds" and ti["map_index"] >= 0
        }
        assert len(fetched) == 1, fetched
        (fetch_run,) = fetched
        for dag_id in CHAIN[1:]:
            chained = [r for r in runs[dag_id] if r["run_type"] == "asset_triggered"]
            assert chained, (dag_id, runs[dag_id])
            assert {r["state"] for r in chained} == {"success"}, chained
        assert not [r for d in CHAIN for r in runs[d] if r["state"] == "failed"], runs

        # Every demo article stored once, and each real story one multi-outlet story.
        with session_scope(stories) as session:
            guids = session.scalars(
                select(Article.guid).join(Feed).where(Feed.name != TEASER_FEED)
            ).all()
        assert sorted(guids) == sorted(LABELS)  # each once
        demo = demo_stories(stories)
        labels, outlets = demo.labels_in, demo.outlets_in
        assert {s: dict(c) for s, c in labels.items() if len(c) > 1} == {}  # none mixed
        for gold in STORIES:
            homes = [story for story, counter in labels.items() if gold in counter]
            assert homes, f"{gold} formed no story"
            assert max(len(outlets[story]) for story in homes) >= 3, (gold, outlets)

        # Tasks ran on both workers; the embed batches were spread over them.
        instances = cluster.task_instances()
        hosts = Counter(ti["hostname"] for ti in instances if ti["state"] == "success")
        names = {cluster.worker_name(1), cluster.worker_name(2)}
        assert names <= set(hosts), hosts
        # (a second embed run, chained while the first embedded, maps over nothing: index -1)
        embeds = [ti for ti in instances if ti["task_id"] == "embed_batch" and ti["map_index"] >= 0]
        with session_scope(stories) as session:
            stored_articles = session.scalar(select(func.count()).select_from(Article)) or 0
        assert len(embeds) == -(-stored_articles // 12), embeds
        assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in embeds), embeds
        print(f"task instances per worker: {dict(hosts)}")

        # The embed tasks found the model loaded: each Celery pool process loaded it once
        # (pipeline/worker.py) and the supervisor forked the task from it.
        for ti in embeds:
            log = cluster.task_log("storyline_embed", ti["run_id"], "embed_batch", ti["map_index"])
            assert record_fields(log, "embed progress"), log
            assert record_fields(log, "embedding model loaded") == [], "loaded in the task"
        preloaded = [
            p for p in cluster.processes if b"embedding model preloaded" in p.log.read_bytes()
        ]
        assert {p.name for p in preloaded} == names, [p.tail() for p in cluster.processes]

        # The teaser's page was read once, and embedded with its body; the dead link is
        # recorded on its article, and failed no task.
        assert len(teaser_site.requests_for("/news/raid")) == 1
        with session_scope(stories) as session:
            read = dict(
                session.execute(
                    select(Article.url, Article.extract_state)
                    .join(Feed)
                    .where(Feed.name == TEASER_FEED)
                ).all()
            )
            raid = session.execute(
                select(Article.id, Article.body, Article.text_hash).where(
                    Article.url == teaser_site.url("/news/raid")
                )
            ).one()
            made_from = session.scalars(
                select(Embedding.content_hash).where(Embedding.article_id == raid.id)
            ).all()
        assert read == {
            teaser_site.url("/news/raid"): "ok",
            teaser_site.url("/news/gone"): "skipped",
        }
        assert BODY[1] in (raid.body or ""), raid
        assert made_from == [raid.text_hash], (raid, made_from)
        extracts = [
            ti for ti in instances if ti["task_id"] == "extract_pages" and ti["map_index"] >= 0
        ]
        assert extracts, "no extract_pages task ran"
        assert all(ti["state"] == "success" for ti in extracts), extracts
        pages_read = []
        for ti in extracts:
            log = cluster.task_log(
                "storyline_extract", ti["run_id"], "extract_pages", ti["map_index"]
            )
            pages_read += record_fields(log, "pages read")
        assert sum(record["ok"] for record in pages_read) == 1, pages_read

        # The dashboard's API serves them (what `storyline serve` answers).
        with TestClient(create_app(Settings.load(database_url=stories_url))) as api:
            listed = api.get("/api/stories", params={"limit": 50}).json()
        assert listed["total"] >= len(STORIES), listed
        assert sum(1 for item in listed["items"] if item["outlets"] >= 3) >= len(STORIES), listed

        # 2. The task log tells the story: our fields are keys of Airflow's JSON lines.
        fetches = [
            ti for ti in instances if ti["task_id"] == "fetch_feeds" and ti["run_id"] == fetch_run
        ]
        assert len(fetches) == 2, fetches  # six feeds, three per task
        stored = []
        for ti in fetches:
            log = cluster.task_log("storyline_ingest", fetch_run, "fetch_feeds", ti["map_index"])
            stored += record_fields(log, "feed stored")
            assert not [r for r in log if r.get("level") in ("error", "critical")], log
        assert len(stored) == 7, stored
        for record in stored:
            assert record["logger"] == "pipeline.ingest.stage"
            assert re.match(r"http://(127\.0\.0\.1|localhost):\d+/", record["url"]), record
            assert record["feed"], record
            assert record["entries"] >= record["new"] > 0, record
            assert isinstance(record["seconds"], float), record
        assert sum(r["new"] for r in stored) == len(LABELS) + 2  # and the teasers

        # 3. A second trigger adds no article and no story.
        counts = row_counts(stories)
        before = cluster.run_ids(CHAIN)
        second = cluster.trigger("storyline_ingest")
        cluster.settle(CHAIN, before)
        (again,) = [r for r in cluster.runs("storyline_ingest") if r["run_id"] == second]
        assert again["state"] == "success", again
        assert row_counts(stories) == counts
        publish = [
            ti
            for ti in cluster.task_instances("storyline_ingest")
            if ti["run_id"] == second and ti["task_id"] == "publish"
        ]
        # Asked of the database although no feed was due, and skipped: nothing waits.
        assert [ti["state"] for ti in publish] == ["skipped"], publish
        assert publish[0]["start_date"] is not None, "publish did not run"

        # 4. No ERROR line in any task log, and a skipped task gives its slot back at once.
        errors = []
        for log_file in (home / "logs").rglob("attempt=*.log"):
            for line in log_file.read_text(encoding="utf-8").splitlines():
                if re.search(r'"level":\s*"(error|critical)"', line):
                    errors.append(f"{log_file.relative_to(home)}: {line[:300]}")
        assert errors == [], "\n".join(errors)
        slots = cluster.slot_times()
        assert slots, "no task durations in the workers' logs"
        by_task: dict[str, list[float]] = defaultdict(list)
        for slot in slots:
            by_task[f"{slot.dag_id}.{slot.task_id}"].append(slot.seconds)
        print("slot seconds per task:", {k: [round(s, 2) for s in v] for k, v in by_task.items()})
        # The second trigger's publish ran alone: asked the database, skipped, gone. Before
        # [workers] min_heartbeat_interval=1 such a task held its slot 0.6 s or 5.6 s, as the
        # supervisor noticed the exit at once or after one 5-second select.
        (idle,) = [slot for slot in slots if slot.run_id == second and slot.task_id == "publish"]
        assert idle.seconds < 2.5, idle
    assert cluster.leftover_pids() == []
    stories.dispose()

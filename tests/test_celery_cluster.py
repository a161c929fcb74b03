"""The DAGs on a real Airflow cluster with the CeleryExecutor: not ``dag.test()``.

As a data engineer deploys it, on this machine: PostgreSQL metadata, Redis broker, the
api-server, scheduler, dag-processor and two Celery workers as separate processes from
the project's venv (``tests/celery_cluster.py``), the demo feeds served over local HTTP
with their dates moved to now (``storyline demo-feeds``, the deployment's demo), the feed
registry synced with ``storyline feeds sync``. One trigger of ``storyline_ingest`` must
chain through the assets to embed and cluster runs that build multi-outlet stories, with
tasks on both workers; a second trigger must change nothing.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from models import Article
from pipeline.db import make_engine, migrate, session_scope
from pipeline.serve.api import create_app
from pipeline.settings import Settings
from tests.celery_cluster import CeleryCluster, on_two_hosts
from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database
from tests.demo_labels import LABELS, STORIES, demo_stories
from tests.factories import row_counts

REPO = Path(__file__).resolve().parents[1]
STORYLINE = str(Path(sys.executable).parent / "storyline")
CHAIN = ("storyline_ingest", "storyline_embed", "storyline_cluster")

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


@pytest.fixture
def demo_feeds(tmp_path: Path, stories_url: str) -> Iterator[Path]:
    """``storyline demo-feeds`` serving, and its feeds file synced into the stories database."""
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
        feeds_file.write_text(yaml.safe_dump({"feeds": feeds}), encoding="utf-8")
        synced = subprocess.run(
            [STORYLINE, "feeds", "sync", str(feeds_file), "--db", stories_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert synced.returncode == 0, synced.stderr
        assert "6 added" in synced.stderr
        yield feeds_file
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr is not None:
            server.stderr.close()


def record_fields(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [record for record in records if record.get("event") == event]


def test_the_dags_on_a_celery_cluster_with_two_workers(
    tmp_path: Path, stories_url: str, demo_feeds: Path
) -> None:
    stories = make_engine(stories_url)
    home = tmp_path / "airflow"
    extra = {"STORYLINE_EMBED_TASK_BATCH": "12", "STORYLINE_INGEST_TASK_FEEDS": "3"}
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
        for dag_id in ("storyline_embed", "storyline_cluster"):
            chained = [r for r in runs[dag_id] if r["run_type"] == "asset_triggered"]
            assert chained, (dag_id, runs[dag_id])
            assert {r["state"] for r in chained} == {"success"}, chained
        assert not [r for d in CHAIN for r in runs[d] if r["state"] == "failed"], runs

        # Every demo article stored once, and each real story one multi-outlet story.
        with session_scope(stories) as session:
            guids = session.scalars(select(Article.guid)).all()
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
        assert len(stored) == 6, stored
        for record in stored:
            assert record["logger"] == "pipeline.ingest.stage"
            assert re.match(r"http://(127\.0\.0\.1|localhost):\d+/", record["url"]), record
            assert record["feed"], record
            assert record["entries"] >= record["new"] > 0, record
            assert isinstance(record["seconds"], float), record
        assert sum(r["new"] for r in stored) == len(LABELS)

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

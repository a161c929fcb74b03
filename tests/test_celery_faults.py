"""Faults inside a real Airflow cluster: a worker killed mid-task, Redis and PostgreSQL restarted.

The cluster of ``tests/test_celery_cluster.py`` (api-server, scheduler, dag-processor, two
Celery workers, as separate processes), but on a PostgreSQL server and a Redis of the
test's own (``tests/private_servers.py``): both are restarted under it, and the machine's
shared servers must stay up. Airflow's metadata, the Celery results and the stories all
live on that one PostgreSQL server, as in docker-compose.yml, so its restart hits every
component at once.

One chain run of the demo feeds (ingest, extract, embed, cluster) meets three faults:

1. **A worker is SIGKILLed in the middle of embed tasks.** The test holds a row lock on
   every article past the first ``embed_batch_size`` of each embed task, so each task
   stores its first transaction of vectors and then waits; the worker running such tasks
   is killed with its whole process tree, a new worker is started. Airflow must notice the
   silent task (``[scheduler] task_instance_heartbeat_timeout``), retry it, and the retry
   must embed only what is missing.
2. **Redis is killed (SIGKILL) and started again, empty**, while embed tasks wait in its
   queue: those messages are lost. The scheduler must queue them again
   (``[scheduler] task_queued_timeout``); the workers must reconnect.
3. **PostgreSQL is restarted (``pg_ctl restart -m fast``) during the cluster task**, which
   the test pins on the database by holding the cluster lock: the task fails and its retry
   must build the stories.

Then every demo article is stored once, has one vector, and the stories equal those of an
undisturbed run of the same feeds (``storyline run``, in-process, before the cluster
starts). The thresholds that make recovery take minutes in production are lowered here
(see ``FAST``); docs/DEPLOYMENT.md ("Faults") says what they are there and what an
operator sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Connection, Engine, create_engine, func, select, text

from models import Article, Embedding, Feed, Story, StoryArticle
from pipeline.batches import embed_batches
from pipeline.db import make_engine, migrate, session_scope
from pipeline.embed.stage import _articles_to_embed, _in_length_order
from pipeline.locks import STORIES_LOCK, advisory_key
from pipeline.settings import Settings
from tests.celery_cluster import CeleryCluster
from tests.demo_labels import LABELS
from tests.private_servers import PrivatePostgres, PrivateRedis

STORYLINE = str(Path(sys.executable).parent / "storyline")
CHAIN = ("storyline_ingest", "storyline_extract", "storyline_embed", "storyline_cluster")
TASK_BATCH = 12
CHUNK = 4
FAST = {
    # Production defaults: 300 s, 10 s, 600 s, 120 s, 60 s (docs/DEPLOYMENT.md, "Faults").
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "3",
    "STORYLINE_TASK_RETRY_DELAY_SECONDS": "2",
}

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.celery]


@pytest.fixture
def server() -> Iterator[PrivatePostgres]:
    with PrivatePostgres() as pg:
        yield pg


@pytest.fixture
def broker() -> Iterator[PrivateRedis]:
    with PrivateRedis() as r:
        yield r


@pytest.fixture
def stories_url(server: PrivatePostgres) -> str:
    admin = create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('CREATE DATABASE "storyline_faults"'))
    admin.dispose()
    url = server.admin_url.rsplit("/", 1)[0] + "/storyline_faults"
    engine = make_engine(url)
    migrate(engine)  # what `storyline init` does
    engine.dispose()
    return url


@pytest.fixture
def feeds_file(tmp_path: Path) -> Iterator[Path]:
    """``storyline demo-feeds`` serving; the feeds file it wrote."""
    path = tmp_path / "demo-feeds.yaml"
    process = subprocess.Popen(
        [STORYLINE, "demo-feeds", "--port", "0", "--write-feeds", str(path)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert banner.startswith("demo-feeds: serving 6 demo feeds"), banner
        yield path
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


def storyline(*args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [STORYLINE, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def stories_of(engine: Engine) -> set[tuple[str, str, frozenset[str]]]:
    """Each story's title, status and the guids of its articles."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(Story.id, Story.title, Story.status, Article.guid)
            .join(StoryArticle, StoryArticle.story_id == Story.id)
            .join(Article, Article.id == StoryArticle.article_id)
        ).all()
    members: dict[int, set[str]] = {}
    heads: dict[int, tuple[str, str]] = {}
    for story_id, title, status, guid in rows:
        members.setdefault(story_id, set()).add(guid)
        heads[story_id] = (title, status)
    return {(*heads[s], frozenset(guids)) for s, guids in members.items()}


def chunk_tails(engine: Engine, settings: Settings) -> tuple[list[list[int]], dict[int, list[int]]]:
    """The embed plan (as ``plan_batches`` makes it) and, per batch, the articles its task
    embeds after its first transaction (``embed_batch_size`` of them, shortest first):
    ``embed``'s own selection and order, its private helpers, so that the two cannot differ."""
    plan = embed_batches(engine, settings)
    tails = {}
    for index, ids in enumerate(plan):
        ordered = _in_length_order(
            _articles_to_embed(engine, settings.model_name, ids), settings.embed_text_chars
        )
        tails[index] = [row.id for row, _ in ordered[settings.embed_batch_size :]]
    return plan, tails


def embedded(engine: Engine, ids: list[int]) -> int:
    with session_scope(engine) as session:
        return (
            session.scalar(
                select(func.count()).select_from(Embedding).where(Embedding.article_id.in_(ids))
            )
            or 0
        )


def waiting_inserts(conn: Connection) -> int:
    """Sessions of the stories database blocked on a lock in an INSERT of vectors."""
    return int(
        conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO embeddings%'"
            )
        )
        or 0
    )


def log_events(cluster: CeleryCluster, event: str) -> list[dict[str, Any]]:
    """Rows of Airflow's audit log (``log`` table: what the UI shows under Browse → Audit Log)."""
    return cluster.query(
        "SELECT dag_id, task_id, run_id, map_index, try_number, extra FROM log "
        "WHERE event = :event ORDER BY id",
        event=event,
    )


def attempt_log(home: Path, ti: dict[str, Any], attempt: int) -> str:
    """The text of one attempt's task log ("" before it exists)."""
    folder = (
        home
        / "logs"
        / f"dag_id={ti['dag_id']}"
        / f"run_id={ti['run_id']}"
        / f"task_id={ti['task_id']}"
    )
    if ti["map_index"] >= 0:
        folder = folder / f"map_index={ti['map_index']}"
    path = folder / f"attempt={attempt}.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def progress(home: Path, ti: dict[str, Any], attempt: int) -> list[dict[str, Any]]:
    """The ``embed progress`` records of one attempt of an embed task."""
    records = [json.loads(line) for line in attempt_log(home, ti, attempt).splitlines() if line]
    return [r for r in records if r.get("event") == "embed progress"]


def test_a_killed_worker_and_restarted_redis_and_postgres_lose_nothing(
    tmp_path: Path,
    server: PrivatePostgres,
    broker: PrivateRedis,
    stories_url: str,
    feeds_file: Path,
) -> None:
    # (the steps of one scenario, in order: splitting them would hide the order they need)
    started = time.monotonic()
    # 0. The undisturbed run: the same feeds, in-process, on SQLite.
    reference = make_engine(f"sqlite:///{tmp_path / 'undisturbed.db'}")
    reference_url = str(reference.url)
    storyline("run", "--feeds", str(feeds_file), "--db", reference_url)
    undisturbed = stories_of(reference)
    reference.dispose()
    print(f"undisturbed run: {time.monotonic() - started:.1f}s, {len(undisturbed)} stories")
    assert len(undisturbed) >= 3, undisturbed

    storyline("feeds", "sync", str(feeds_file), "--db", stories_url)
    stories = make_engine(stories_url)
    settings = Settings.load(
        database_url=stories_url, embed_task_batch=TASK_BATCH, embed_batch_size=CHUNK
    )
    extra = {
        "STORYLINE_EMBED_TASK_BATCH": str(TASK_BATCH),
        "STORYLINE_EMBED_BATCH_SIZE": str(CHUNK),
        **FAST,
    }
    home = tmp_path / "airflow"
    with CeleryCluster(
        home, server.admin_url, stories_url, workers=2, extra_env=extra, redis_port=broker.port
    ) as cluster:
        print(f"cluster up in {cluster.startup_seconds:.1f}s")
        before = cluster.run_ids(CHAIN)
        cluster.trigger("storyline_ingest")
        cluster.unpause(*CHAIN)
        t0 = time.monotonic()

        # 1. Once the embed run plans, lock the articles each task embeds after its first
        # transaction: every embed task stores 4 vectors, then waits on the lock.
        def embed_planning() -> bool:
            return any(
                ti["task_id"] == "plan_batches" and ti["state"] in ("running", "success")
                for ti in cluster.task_instances("storyline_embed")
            )

        cluster.wait_for(embed_planning, "the embed run to plan", 240)
        plan, tails = chunk_tails(stories, settings)
        assert len(plan) >= 5, plan  # more tasks than the 4 slots: some wait in Redis
        locker = stories.connect()
        locked = sorted(i for tail in tails.values() for i in tail)
        locker.execute(select(Article.id).where(Article.id.in_(locked)).with_for_update()).all()
        watcher = stories.connect().execution_options(isolation_level="AUTOCOMMIT")

        def stalled_on(worker: str) -> list[dict[str, Any]]:
            """Embed tasks running on ``worker`` that stored their first vectors and wait."""
            running = [
                ti
                for ti in cluster.task_instances("storyline_embed")
                if ti["task_id"] == "embed_batch"
                and ti["state"] == "running"
                and ti["hostname"] == worker
            ]
            return [ti for ti in running if embedded(stories, plan[ti["map_index"]]) == CHUNK]

        victim_name = cluster.worker_name(1)
        cluster.wait_for(
            lambda: (
                len(stalled_on(victim_name)) == cluster.concurrency
                and waiting_inserts(watcher) >= cluster.concurrency
            ),
            f"two embed tasks on {victim_name} to store their first vectors and wait",
            120,
        )
        victims = stalled_on(victim_name)
        queue = redis.Redis(host="127.0.0.1", port=broker.port, db=cluster.redis_db)
        queued_in_redis = queue.llen("default")
        queue.close()
        watcher.close()
        labels = {
            row["map_index"]: row["rendered_map_index"]
            for row in cluster.query(
                "SELECT map_index, rendered_map_index FROM task_instance "
                "WHERE dag_id = 'storyline_embed' AND task_id = 'embed_batch' AND map_index >= 0"
            )
        }
        for ti in victims:  # the plan computed here is the plan the DAG made
            ids = plan[ti["map_index"]]
            expected = f"{len(ids)} articles, ids {ids[0]}-{ids[-1]}"
            assert labels[ti["map_index"]] == expected, (labels, plan)
        killed = cluster.kill_worker(victim_name)
        t_kill = time.monotonic()
        print(f"killed {victim_name} ({len(killed)} processes) running {victims}")

        # 2. Redis dies with the messages waiting in it, and comes back empty.
        lost = [
            ti
            for ti in cluster.task_instances("storyline_embed")
            if ti["task_id"] == "embed_batch" and ti["state"] == "queued"
        ]
        down = broker.restart()
        t_redis = time.monotonic()
        print(f"redis restarted in {down:.2f}s; {queued_in_redis} messages lost: {lost}")
        assert queued_in_redis >= 1, "no message waited in Redis: the restart lost nothing"
        assert lost, "no embed task was queued when Redis went"

        # A new worker takes the dead one's place; the lock goes.
        cluster.start_worker(3)
        locker.rollback()
        locker.close()
        cluster.wait_for(cluster.workers_ready, "the new worker", 120)

        def embedded_all() -> bool:
            tis = [
                ti
                for ti in cluster.task_instances("storyline_embed")
                if ti["task_id"] == "embed_batch" and ti["map_index"] >= 0
            ]
            failed = [ti for ti in tis if ti["state"] in ("failed", "upstream_failed")]
            assert not failed, f"embed tasks failed for good: {failed}"
            return len(tis) >= len(plan) and all(ti["state"] == "success" for ti in tis)

        cluster.wait_for(embedded_all, "every embed task to succeed after the faults", 240)
        t_embedded = time.monotonic()
        print(f"embed done {t_embedded - t_kill:.1f}s after the kill")

        # 3. The cluster task, pinned on the database by the cluster lock, meets a restart.
        pinner = stories.connect()
        assert pinner.scalar(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": advisory_key(STORIES_LOCK)}
        )
        pinner.commit()

        def cluster_task_waiting() -> dict[str, Any] | None:
            for ti in cluster.task_instances("storyline_cluster"):
                if (
                    ti["task_id"] == "cluster"
                    and ti["state"] == "running"
                    and "waiting for lock" in attempt_log(cluster.home, ti, 1)
                ):
                    return ti
            return None

        cluster.wait_for(
            lambda: cluster_task_waiting() is not None, "the cluster task to wait", 240
        )
        pinned = cluster_task_waiting()
        assert pinned is not None
        restart_seconds = server.restart("fast")
        t_pg = time.monotonic()
        pinner.invalidate()
        pinner.close()
        print(f"postgres restarted in {restart_seconds:.2f}s during {pinned}")

        cluster.settle(CHAIN, before, timeout=300)
        t_settled = time.monotonic()
        print(
            f"chain settled {t_settled - t0:.1f}s after the trigger, "
            f"{t_settled - t_pg:.1f}s after the PostgreSQL restart"
        )

        runs = {dag_id: cluster.runs(dag_id) for dag_id in CHAIN}
        instances = cluster.task_instances()
        heartbeats = log_events(cluster, "heartbeat timeout")
        requeued = log_events(cluster, "stuck in queued reschedule")
        processes = {p.name: p.tail(60) for p in [*cluster.processes, *cluster.stopped]}

    assert cluster.leftover_pids() == []

    def ti_now(ti: dict[str, Any]) -> dict[str, Any]:
        (row,) = [
            i
            for i in instances
            if (i["dag_id"], i["run_id"], i["task_id"], i["map_index"])
            == (ti["dag_id"], ti["run_id"], ti["task_id"], ti["map_index"])
        ]
        return row

    print("heartbeat timeouts:", json.dumps(heartbeats, default=str))
    print("requeued:", json.dumps(requeued, default=str))
    failed_runs = [r for d in CHAIN for r in runs[d] if r["state"] != "success"]
    assert failed_runs == [], (failed_runs, processes)

    # The killed tasks: declared dead by the scheduler, retried elsewhere, and done; the
    # retry embedded only what the first try had not stored.
    for ti in victims:
        now = ti_now(ti)
        assert now["state"] == "success", (now, processes)
        assert now["try_number"] == 2, now
        assert now["hostname"] != victim_name, now
        first, retry = (progress(cluster.home, ti, attempt) for attempt in (1, 2))
        batch = len(plan[ti["map_index"]])
        assert [(r["done"], r["of"]) for r in first] == [(CHUNK, batch)], first
        assert retry, "the retry embedded nothing"
        assert retry[-1]["of"] == retry[-1]["done"] == batch - CHUNK, retry
    assert {(e["task_id"], e["map_index"]) for e in heartbeats} >= {
        ("embed_batch", ti["map_index"]) for ti in victims
    }, heartbeats
    # The messages Redis lost: queued again by the scheduler, run once.
    for ti in lost:
        now = ti_now(ti)
        assert now["state"] == "success", (now, processes)
    assert {e["map_index"] for e in requeued} >= {ti["map_index"] for ti in lost}, requeued
    # The cluster task: failed with the restart, retried, done.
    after = ti_now(pinned)
    assert after["state"] == "success", (after, processes)
    assert after["try_number"] == 2, after
    assert "terminating connection due to administrator command" in attempt_log(
        cluster.home, pinned, 1
    )

    # Nothing doubled, nothing lost: each demo article once, one vector each.
    with session_scope(stories) as session:
        guids = session.scalars(select(Article.guid).join(Feed)).all()
        vectors = session.execute(
            select(func.count(), func.count(func.distinct(Embedding.article_id))).select_from(
                Embedding
            )
        ).one()
    assert sorted(guids) == sorted(LABELS)
    assert tuple(vectors) == (len(LABELS), len(LABELS)), vectors
    # The stories equal the undisturbed run's.
    assert stories_of(stories) == undisturbed
    stories.dispose()
    print(
        f"kill→embedded {t_embedded - t_kill:.1f}s, redis restart→embedded "
        f"{t_embedded - t_redis:.1f}s, pg restart→settled {t_settled - t_pg:.1f}s; "
        f"total {time.monotonic() - started:.1f}s"
    )

"""One ingest -> extract -> embed -> cluster cycle of the Airflow DAGs on the demo feeds, timed.

    .venv/bin/python -m bench.dags [--embed-task-batch 256,16] [--db postgresql|sqlite]
                                   [--celery-workers 1,2] [--no-dag-test]

Part 1 (``dag.test()``, in one process):

The bundled demo feeds (``pipeline/demo``) are served by a local HTTP server and registered
in a scratch stories database (PostgreSQL by default: ``STORYLINE_TEST_PG_URL``, else
``postgres@127.0.0.1:5432``). Then, in one subprocess with its own ``AIRFLOW_HOME``,
``dag.test()`` runs ``storyline_ingest``, then ``storyline_extract`` (the demo feeds carry
their whole text: no page is due), ``storyline_embed`` and ``storyline_cluster`` with no
logical date, as when their assets start them; the cluster run's ``run_after`` is
the demo's newest article, so its window holds the demo news (from 2015). Printed per
``embed_task_batch``: each DAG run's wall time, the cycle's, the mapped tasks, how many
articles each embedded, and every task's duration.

``dag.test()`` runs every task in its one process, so the model is loaded once; a real
worker starts each task in a fresh process. The cold start of an embed task (imports and
model load, no articles) is measured separately and printed, to weigh against the
batch size.

Part 2 (a real CeleryExecutor cluster, ``tests/celery_cluster.py``: api-server, scheduler,
dag-processor and N Celery workers of 2 slots each, PostgreSQL metadata, Redis broker), once
per ``--celery-workers`` count, on the demo feeds served by ``storyline demo-feeds``' server
(dates moved to now): the seconds from ``airflow dags trigger storyline_ingest`` to the
first story row and to the last chained run's end, and per task kind the median time a task
waited in the queue, ran (Airflow's duration) and held its worker slot (the worker's own
figure), the difference being the per-task overhead (process fork, DAG parse, API calls).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from pipeline.db import make_engine, migrate, session_scope
from pipeline.ingest.feeds import FeedSpec, load_feeds_file, sync_feeds
from pipeline.ingest.parse import parse_feed
from tests.airflow_runner import RESULT_MARKER, airflow_env
from tests.feedserver import FeedServer

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = Path(sys.executable).parent / "airflow"
COLD_START = """
import time
start = time.perf_counter()
from pipeline.embed.backends import settings_embedder
from pipeline.settings import Settings
settings_embedder(Settings.load())
print(time.perf_counter() - start)
"""


def demo_feeds() -> tuple[list[FeedSpec], dict[str, bytes], datetime]:
    """The demo registry, each feed's document, and the newest article's time."""
    folder = Path(str(resources.files("pipeline.demo")))
    specs = load_feeds_file(folder / "feeds.yaml")
    bodies = {spec.name: Path(spec.url).read_bytes() for spec in specs}
    fetched = datetime.now(UTC)
    newest = max(
        entry.published_at
        for body in bodies.values()
        for entry in parse_feed(body, fetched_at=fetched).entries
    )
    return specs, bodies, newest


def scratch_database(kind: str, folder: Path) -> tuple[str, Any]:
    """A new stories database and a function that drops it."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'stories.db'}", lambda: None
    from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    url = create_pg_database(admin, prefix="storyline_bench")

    def drop() -> None:
        drop_pg_database(admin, url)
        admin.dispose()

    return url, drop


def cycle(kind: str, embed_task_batch: int) -> dict[str, Any]:
    specs, bodies, newest = demo_feeds()
    with tempfile.TemporaryDirectory(prefix="storyline-bench-dags-") as scratch:
        folder = Path(scratch)
        url, drop = scratch_database(kind, folder)
        try:
            with FeedServer() as server:
                for spec in specs:
                    server.route(f"/{spec.name}.xml", bodies[spec.name])
                served = [
                    spec.model_copy(update={"url": server.url(f"/{spec.name}.xml")})
                    for spec in specs
                ]
                engine = make_engine(url)
                migrate(engine)
                with session_scope(engine) as session:
                    sync_feeds(session, served, datetime.now(UTC))
                engine.dispose()
                env = airflow_env(
                    folder / "airflow",
                    AIRFLOW_CONN_STORYLINE_DB=url,
                    STORYLINE_EMBED_TASK_BATCH=str(embed_task_batch),
                )
                subprocess.run(
                    [str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, check=True
                )
                steps = [
                    {"dag_id": "storyline_ingest"},
                    {"dag_id": "storyline_extract", "logical_date": None},
                    {"dag_id": "storyline_embed", "logical_date": None},
                    # no logical date, and run_after at the demo's newest article: the
                    # window ends there (a run before the DAGs' start_date gets no tasks)
                    {
                        "dag_id": "storyline_cluster",
                        "logical_date": None,
                        "run_after": newest.isoformat(),
                    },
                ]
                start = time.perf_counter()
                proc = subprocess.run(
                    [sys.executable, "-m", "tests.airflow_runner", "run", json.dumps(steps)],
                    env=env,
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                process_s = time.perf_counter() - start
        finally:
            drop()
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"the DAG runs failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    runs = json.loads(lines[-1][len(RESULT_MARKER) :])["runs"]
    return {"runs": runs, "process_s": process_s}


def report(embed_task_batch: int, result: dict[str, Any]) -> None:
    runs = {run["dag_id"]: run for run in result["runs"]}
    for dag_id, run in runs.items():
        if run["state"] != "success":
            raise SystemExit(f"{dag_id} ended {run['state']}: {json.dumps(run['tasks'])[:4000]}")
    ingest = runs["storyline_ingest"]["tasks"]["publish"]["xcom"]
    embeds = runs["storyline_embed"]["tasks"]["embed_batch"]
    cluster = runs["storyline_cluster"]["tasks"]["cluster"]["xcom"]
    cycle_s = sum(run["seconds"] for run in result["runs"])
    print(f"\nembed_task_batch={embed_task_batch}")
    print(
        f"  ingest  {runs['storyline_ingest']['seconds']:6.1f}s  {ingest['feeds']} feeds, "
        f"{ingest['new_articles']} new articles, "
        f"{len(runs['storyline_ingest']['tasks']['fetch_feeds'])} fetch task(s)"
    )
    print(f"  extract {runs['storyline_extract']['seconds']:6.1f}s")
    print(
        f"  embed   {runs['storyline_embed']['seconds']:6.1f}s  {len(embeds)} mapped task(s), "
        f"articles per task {[ti['xcom']['articles'] for ti in embeds]}, "
        f"task seconds {[round(ti['seconds'], 1) for ti in embeds]}"
    )
    print(
        f"  cluster {runs['storyline_cluster']['seconds']:6.1f}s  {cluster['articles']} articles, "
        f"{cluster['stories_created']} stories"
    )
    print(f"  cycle   {cycle_s:6.1f}s in dag.test(); {result['process_s']:.1f}s with the process")
    for dag_id, run in runs.items():
        seconds = {
            task_id: [round(ti["seconds"], 1) for ti in entry]
            if isinstance(entry, list)
            else round(entry["seconds"] or 0.0, 1)
            for task_id, entry in run["tasks"].items()
        }
        print(f"    {dag_id} task seconds: {seconds}")


def celery_cycle(workers: int, embed_task_batch: int) -> dict[str, Any]:
    """One trigger of ``storyline_ingest`` on a fresh cluster of ``workers`` Celery workers."""
    import threading
    from statistics import median

    from pipeline.demo.server import start_server
    from tests.celery_cluster import QUIET_SECONDS, CeleryCluster, on_two_hosts
    from tests.conftest import PG_ADMIN_URL

    chain = ("storyline_ingest", "storyline_extract", "storyline_embed", "storyline_cluster")
    with tempfile.TemporaryDirectory(prefix="storyline-bench-celery-") as scratch:
        folder = Path(scratch)
        url, drop = scratch_database("postgresql", folder)
        server = start_server("127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            feeds = [FeedSpec(**feed) for feed in on_two_hosts(server.site.feeds_file)]
            engine = make_engine(url)
            migrate(engine)
            with session_scope(engine) as session:
                sync_feeds(session, feeds, datetime.now(UTC))
            extra = {
                "STORYLINE_EMBED_TASK_BATCH": str(embed_task_batch),
                "STORYLINE_INGEST_TASK_FEEDS": "3",
            }
            with CeleryCluster(
                folder / "airflow", PG_ADMIN_URL, url, workers=workers, extra_env=extra
            ) as cluster:
                before = cluster.run_ids(chain)
                start = time.monotonic()
                cluster.trigger("storyline_ingest")
                cluster.unpause(*chain)
                cluster.wait_for(lambda: _stories(engine) > 0, "the first stories", 600)
                first_stories = time.monotonic() - start
                cluster.settle(chain, before, timeout=600)
                settled = time.monotonic() - start - QUIET_SECONDS
                instances = cluster.task_instances()
                slots = cluster.slot_times()
                startup = cluster.startup_seconds
            stories = _stories(engine)
            engine.dispose()
        finally:
            server.shutdown()
            server.server_close()
            drop()
    slot_of = {(s.dag_id, s.run_id, s.task_id, s.map_index): s.seconds for s in slots}
    kinds: dict[str, dict[str, list[float]]] = {}
    for ti in instances:
        if ti["start_date"] is None or ti["end_date"] is None:
            continue  # skipped by the scheduler: never ran
        kind = kinds.setdefault(f"{ti['dag_id'].removeprefix('storyline_')}.{ti['task_id']}", {})
        kind.setdefault("queued", []).append(
            (ti["start_date"] - ti["queued_dttm"]).total_seconds() if ti["queued_dttm"] else 0.0
        )
        ran = (ti["end_date"] - ti["start_date"]).total_seconds()
        kind.setdefault("ran", []).append(ran)
        slot = slot_of.get((ti["dag_id"], ti["run_id"], ti["task_id"], ti["map_index"]))
        if slot is not None:
            kind.setdefault("slot", []).append(slot)
    per_kind = {
        name: {key: median(values) for key, values in figures.items()} | {"n": len(figures["ran"])}
        for name, figures in sorted(kinds.items())
    }
    hosts = sorted({ti["hostname"] for ti in instances if ti["hostname"]})
    return {
        "workers": workers,
        "startup_s": startup,
        "to_first_stories_s": first_stories,
        "to_settled_s": settled,
        "stories": stories,
        "hosts": hosts,
        "per_kind": per_kind,
    }


def _stories(engine: Any) -> int:
    from sqlalchemy import func, select

    from models import Story

    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Story)) or 0


def report_celery(results: list[dict[str, Any]]) -> None:
    base = results[0]
    print("\nCeleryExecutor cluster, one trigger of storyline_ingest on the demo feeds")
    header = "".join(f"  {r['workers']} worker(s)" for r in results)
    print(f"  {'':34}{header}")
    for key, label in (
        ("startup_s", "cluster up (s)"),
        ("to_first_stories_s", "trigger -> first stories (s)"),
        ("to_settled_s", "trigger -> last chained run (s)"),
        ("stories", "stories"),
    ):
        cells = "".join(f"  {r[key]:>11.1f}" for r in results)
        print(f"  {label:34}{cells}")
    ratio = "".join(
        f"  {r['to_first_stories_s'] / base['to_first_stories_s']:>10.2f}x" for r in results
    )
    print(f"  {'trigger -> stories vs 1st column':34}{ratio}")
    print("  median seconds per task kind: queued / ran / slot (slot - ran = overhead)")
    for name in base["per_kind"]:
        row: list[str] = []
        for r in results:
            k = r["per_kind"].get(name)
            if k is None:
                row.append("-")
                continue
            slot = f"{k['slot']:.1f}" if "slot" in k else "-"
            row.append(f"{k['queued']:.1f}/{k['ran']:.1f}/{slot} (n={k['n']})")
        print(f"    {name:32}" + "  ".join(f"{c:>22}" for c in row))
    for r in results:
        print(f"  {r['workers']} worker(s): task hostnames {r['hosts']}")


def report_parse() -> None:
    """What parsing the DAG folder costs, as the DAG processor loads it, per file: the first
    file parsed also pays the import of ``dags/_common.py`` and Airflow's TaskFlow modules."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.airflow_runner", "parse"],
        env=airflow_env(Path(tempfile.gettempdir()) / "storyline-bench-parse"),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT_MARKER))
    parsed = json.loads(line.removeprefix(RESULT_MARKER))
    files = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in parsed["file_s"].items())
    timeout = 30.0  # Airflow's core.dagbag_import_timeout, the default
    print(
        f"DAG folder parse: {parsed['dagbag_s']:.2f}s ({parsed['dagbag_s'] / timeout:.0%} of "
        f"the {timeout:.0f}s import timeout); per file: {files}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embed-task-batch", default="256,16", help="comma-separated sizes")
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument(
        "--celery-workers", default="1,2", help="comma-separated worker counts; '' for none"
    )
    parser.add_argument("--celery-embed-task-batch", type=int, default=12)
    parser.add_argument("--no-dag-test", action="store_true", help="only the Celery part")
    args = parser.parse_args()
    counts = [int(value) for value in args.celery_workers.split(",") if value]
    if args.no_dag_test:
        report_celery([celery_cycle(n, args.celery_embed_task_batch) for n in counts])
        return
    cold = subprocess.run(
        [sys.executable, "-c", COLD_START],
        env=airflow_env(Path(tempfile.gettempdir()) / "storyline-bench-cold"),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    print(f"cold start of an embed task (imports + model load): {float(cold.stdout):.1f}s")
    report_parse()
    for size in (int(value) for value in args.embed_task_batch.split(",")):
        report(size, cycle(args.db, size))
    if counts:
        report_celery([celery_cycle(n, args.celery_embed_task_batch) for n in counts])


if __name__ == "__main__":
    main()

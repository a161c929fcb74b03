"""Airflow, driven from a subprocess for ``tests/test_dag.py`` and ``bench/dags.py``.

    python -m tests.airflow_runner parse
    python -m tests.airflow_runner run '[{"dag_id": "storyline_ingest"}, ...]'

Never imported by pytest itself: importing Airflow configures logging and global state
for the whole process. The caller sets ``AIRFLOW_HOME`` and the rest of the environment.
Each command prints one line, ``RESULT_MARKER`` + JSON, after Airflow's own output.

``parse`` loads the DAG folder as the DAG processor does (a bundle: the folder goes on
``sys.path``) and describes every DAG. ``run`` runs DAGs one after the other with
``dag.test()`` and reports, for each: the run's state, every task instance's state,
rendered map index and XCom, the asset events the run emitted, and the wall time.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

RESULT_MARKER = "@@STORYLINE-RESULT@@ "
DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an isolated Airflow: nothing from the user's AIRFLOW_* or STORYLINE_*."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_", "AIRFLOW__", "STORYLINE_", "_AIRFLOW"))
    }
    home.mkdir(parents=True, exist_ok=True)
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        NO_PROXY=no_proxy,
        no_proxy=no_proxy,
    )
    if "STORYLINE_MODEL_CACHE_DIR" in os.environ:  # the session's (conftest)
        env["STORYLINE_MODEL_CACHE_DIR"] = os.environ["STORYLINE_MODEL_CACHE_DIR"]
    env.update(extra)
    return env


def load_dags() -> Any:
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS_FOLDER, bundle_path=DAGS_FOLDER, bundle_name="dags-folder")


HEAVY = frozenset(
    {
        "torch",
        "sentence_transformers",
        "transformers",
        "onnxruntime",
        "spacy",
        "hdbscan",
        "sklearn",
        "scipy",
        "trafilatura",
        "feedparser",
        "faiss",
    }
)
"""Libraries a DAG file must not import while it is parsed (the tasks import them): the DAG
processor parses every file again and again, each parse in a process of its own."""


def parse() -> dict[str, Any]:
    before = set(sys.modules)
    start = time.perf_counter()
    bag = load_dags()
    seconds = time.perf_counter() - start
    heavy = sorted({name.split(".")[0] for name in set(sys.modules) - before} & HEAVY)
    from airflow.serialization.encoders import encode_timetable

    summary: dict[str, Any] = {
        "import_errors": bag.import_errors,
        "warnings": {path: [str(w) for w in ws] for path, ws in bag.captured_warnings.items()},
        "dag_ids": sorted(bag.dag_ids),
        "dagbag_s": seconds,
        "file_s": {Path(s.file).name: s.duration.total_seconds() for s in bag.dagbag_stats},
        "heavy_imports": heavy,
        "dags": {},
    }
    for dag_id, dag in bag.dags.items():
        summary["dags"][dag_id] = {
            "tags": sorted(dag.tags),
            "owner": dag.owner,
            "timetable": json.loads(json.dumps(encode_timetable(dag.timetable), default=str)),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "start_date": dag.start_date.isoformat(),
            "has_doc": bool(dag.doc_md),
            "topological": [t.task_id for t in dag.topological_sort()],
            "tasks": {
                t.task_id: {
                    "upstream": sorted(t.upstream_task_ids),
                    "owner": t.owner,
                    "retries": t.retries,
                    "retry_delay_s": t.retry_delay.total_seconds(),
                    "retry_exponential_backoff": float(t.retry_exponential_backoff),
                    "max_retry_delay_s": t.max_retry_delay.total_seconds(),
                    "execution_timeout_s": t.execution_timeout.total_seconds(),
                    "pool": t.pool,
                    "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                    "mapped": type(t).__name__.endswith("MappedOperator"),
                    "map_index_template": t.map_index_template,
                    "outlets": [asset.name for asset in t.outlets],
                }
                for t in dag.tasks
            },
        }
    summary.update(helpers())
    return summary


def helpers() -> dict[str, Any]:
    """``_common.run_time`` and ``_common.database_url`` on the cases the tests name."""
    import datetime as dt
    from types import SimpleNamespace

    import pendulum
    from _common import database_url, run_time
    from airflow.sdk import Connection

    end, logical = pendulum.datetime(2026, 5, 1, 12), pendulum.datetime(2026, 5, 1, 11)
    after = pendulum.datetime(2026, 5, 1, 10, 30)
    fallback = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    cases: dict[str, dict[str, Any]] = {
        "interval": {"data_interval_end": end, "logical_date": logical},
        "logical": {"data_interval_end": None, "logical_date": logical},
        "run_after": {
            "data_interval_end": None,
            "logical_date": None,
            "dag_run": SimpleNamespace(run_after=after),
        },
        "none": {"data_interval_end": None, "logical_date": None},
        "empty": {},
    }
    times = {}
    for name, context in cases.items():
        value = run_time(context, fallback=fallback)
        times[name] = [value.isoformat(), type(value).__name__]
    uris = {
        "postgresql": "postgresql://story:p%40ss@db.internal:5432/storyline",
        "psycopg": "postgresql+psycopg://story@db.internal/storyline",
        "sslmode": "postgres://story@db.internal:5432/storyline?sslmode=require",
        "sqlite-uri": "sqlite:////var/lib/storyline/stories.db",
    }
    urls = {name: database_url(Connection.from_uri(uri, conn_id="x")) for name, uri in uris.items()}
    urls["sqlite-fields"] = database_url(
        Connection(conn_id="x", conn_type="sqlite", host="/var/lib/storyline/stories.db")
    )
    return {"run_time": times, "database_url": urls}


def run(steps: list[dict[str, Any]]) -> dict[str, Any]:
    bag = load_dags()
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    results = []
    for step in steps:
        dag = bag.dags[step["dag_id"]]
        # Fail fast: a failing task would otherwise wait out its retry delays in dag.test().
        # A step may ask for retries, taken at once (to test what a retry does).
        for task in dag.tasks:
            task.retries = step.get("retries", 0)
            task.retry_delay = timedelta(0)
            task.retry_exponential_backoff = 0
        kwargs: dict[str, Any] = {}
        if "logical_date" in step:  # None: no logical date, as asset-triggered and manual runs
            value = step["logical_date"]
            kwargs["logical_date"] = None if value is None else datetime.fromisoformat(value)
        if "run_after" in step:
            kwargs["run_after"] = datetime.fromisoformat(step["run_after"])
        start = time.perf_counter()
        dag_run = dag.test(**kwargs)
        seconds = time.perf_counter() - start
        results.append({"dag_id": dag.dag_id, "seconds": seconds, **describe(dag_run)})
    return {"runs": results}


def describe(dag_run: Any) -> dict[str, Any]:
    from airflow import settings
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    session_factory: Any = settings.Session  # configured by importing airflow
    with session_factory() as session:
        instances = sorted(
            dag_run.get_task_instances(session=session), key=lambda ti: (ti.task_id, ti.map_index)
        )
        rows = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, key="return_value")
        ).all()
        xcom_of = {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
        events = session.execute(
            select(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == dag_run.run_id)
            .order_by(AssetEvent.id)
        ).all()
    tasks: dict[str, Any] = {}
    for ti in instances:
        entry = {
            "state": str(ti.state),
            "map_index": ti.map_index,
            "label": ti.rendered_map_index,
            "seconds": ti.duration,
            "xcom": xcom_of.get((ti.task_id, ti.map_index)),
        }
        if ti.map_index < 0:
            tasks[ti.task_id] = entry
        else:
            tasks.setdefault(ti.task_id, []).append(entry)
    return {
        "run_id": dag_run.run_id,
        "state": str(dag_run.state),
        "tasks": tasks,
        "asset_events": [{"asset": name, "extra": extra} for name, extra in events],
    }


def main(argv: list[str]) -> None:
    command, *args = argv
    if command == "parse":
        result = parse()
    elif command == "run":
        result = run(json.loads(args[0]))
    else:
        raise SystemExit(f"unknown command {command!r}; use parse or run")
    print(RESULT_MARKER + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

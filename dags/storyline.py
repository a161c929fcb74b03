"""The ``storyline`` DAG: ingest -> embed -> cluster, every 15 minutes.

Each task is a thin call to one stage function of the ``pipeline`` library and returns
that stage's report as a small JSON-able dict (its XCom):

* ``ingest`` migrates the stories database (idempotent: a no-op once at head), then
  fetches every enabled feed once and stores the articles not seen before;
* ``embed`` computes a vector for every article that has none for the configured model;
* ``cluster`` re-clusters the articles published in the window ending at the run's time
  (``data_interval_end``, else ``logical_date``, else now: runs triggered manually or by
  assets may have neither) and carries the clusters into the story tables.

Every stage is idempotent and commits as it goes, so a retry or a rerun only does what is
still missing. Settings, including the stories database URL, come from
``pipeline.settings.Settings.load()`` (``STORYLINE_*`` environment variables).

The heavy imports (the pipeline, SQLAlchemy, torch, sentence-transformers) happen inside
the tasks, so the DAG processor parses this file in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import dag, get_current_context, task

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from pipeline.settings import Settings

DAG_ID = "storyline"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "storyline",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    # Airflow 3.3 takes a multiplier here; 2.0 is what ``True`` meant before (1 min, 2 min).
    "retry_exponential_backoff": 2.0,
}


def run_time(context: Mapping[str, Any], *, fallback: datetime | None = None) -> datetime:
    """The moment a run clusters up to, as a plain UTC ``datetime``.

    ``data_interval_end`` if the run has one, else ``logical_date``, else ``fallback`` or
    the current time.
    """
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if isinstance(value, datetime):
            # Airflow hands out pendulum DateTimes; the pipeline wants plain datetimes.
            return datetime.fromisoformat(value.isoformat()).astimezone(UTC)
    return fallback or datetime.now(UTC)


def _open() -> tuple[Settings, Engine]:
    from pipeline.db import make_engine
    from pipeline.settings import Settings

    settings = Settings.load()
    return settings, make_engine(settings.database_url)


@dag(
    dag_id=DAG_ID,
    description="News feeds -> articles -> embeddings -> multi-outlet stories.",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["storyline"],
    doc_md=__doc__,
)
def storyline() -> None:
    @task(multiple_outputs=False)
    def ingest() -> dict[str, Any]:
        """Migrate the schema, then fetch every enabled feed once and store new articles."""
        from dataclasses import asdict

        from pipeline.db import migrate
        from pipeline.ingest import ingest as run_ingest

        settings, engine = _open()
        try:
            migrate(engine)
            return asdict(run_ingest(engine, settings))
        finally:
            engine.dispose()

    @task(multiple_outputs=False)
    def embed() -> dict[str, Any]:
        """Embed every article that has no current vector for the configured model."""
        from dataclasses import asdict

        from pipeline.db import require_schema
        from pipeline.embed import embed as run_embed

        settings, engine = _open()
        try:
            require_schema(engine)
            return asdict(run_embed(engine, settings))
        finally:
            engine.dispose()

    @task(multiple_outputs=False)
    def cluster() -> dict[str, Any]:
        """Re-cluster the window ending at the run's time and update the stories."""
        from dataclasses import asdict

        from pipeline.cluster import cluster as run_cluster
        from pipeline.db import require_schema

        now = run_time(get_current_context())
        settings, engine = _open()
        try:
            require_schema(engine)
            return {**asdict(run_cluster(engine, settings, now)), "now": now.isoformat()}
        finally:
            engine.dispose()

    ingest() >> embed() >> cluster()


storyline()

"""What the five Storyline DAGs share: defaults, assets, the stories database, run times.

Light on purpose: the DAG processor imports this while parsing the DAG files, so it loads
``airflow.sdk`` and the settings (pydantic) only. The pipeline, SQLAlchemy and the models
are imported inside the functions the tasks call. (Airflow puts the DAG folder on
``sys.path``, so the DAG files import this module as ``_common``.)

The stories database is the Airflow connection ``settings.airflow_conn_id``
(``storyline_db``; in compose the env ``AIRFLOW_CONN_STORYLINE_DB``). Only when no such
connection exists do tasks fall back to ``STORYLINE_DATABASE_URL``.

Task parameters fed by upstream tasks are typed ``Any``: while the DAG is built they hold
``XComArg`` placeholders, and only the running task sees the values.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from airflow.sdk import Asset

from pipeline.reports import jsonable
from pipeline.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from pipeline.stopping import StopFlag

OWNER = "storyline"
TAGS = ["storyline"]
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def parse_settings() -> Settings:
    """The settings the DAG files need while parsing (intervals, pool name, retry delay)."""
    return Settings.load()


DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(seconds=parse_settings().task_retry_delay_seconds),
    # Airflow 3.3 takes a multiplier: 1, 2, 4 minutes between tries (Airflow adds up to as
    # much again, from a hash of the task), at most 15.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    # A task stuck on a lock must not hold its DAG (one active run) forever.
    "execution_timeout": timedelta(hours=1),
}

DAG_DEFAULTS: dict[str, Any] = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,
    "default_args": DEFAULT_ARGS,
    "tags": TAGS,
}
"""What every Storyline DAG shares: no catch-up, one active run at a time."""

# What the DAGs hand on to each other. The URIs name tables (or a column) of the stories
# database.
ARTICLES = Asset(name="storyline_articles", uri="storyline://stories/articles")
"""Articles are waiting for their page or an embedding (marked by ``storyline_ingest``)."""
TEXTS = Asset(name="storyline_texts", uri="storyline://stories/articles/body")
"""The pages due were read, and articles are waiting for an embedding (marked by
``storyline_extract``)."""
EMBEDDINGS = Asset(name="storyline_embeddings", uri="storyline://stories/embeddings")
"""New or refreshed embeddings (marked by ``storyline_embed``)."""
STORIES = Asset(name="storyline_stories", uri="storyline://stories/stories")
"""Stories changed (marked by ``storyline_cluster`` and ``storyline_maintenance``)."""


class ConnectionLike(Protocol):
    """The fields of an Airflow ``Connection`` that name a database."""

    conn_type: str | None
    host: str | None
    schema: str | None

    def get_uri(self) -> str: ...


def database_url(connection: ConnectionLike) -> str:
    """A SQLAlchemy URL for the database an Airflow connection describes.

    PostgreSQL connections (``postgres``/``postgresql`` or ``postgresql+psycopg`` URIs,
    or fields) become their URI, which ``pipeline.db`` points at psycopg 3; extras become
    query parameters (``sslmode=require``). Airflow keeps a SQLite URI's path in
    ``schema`` (fields: ``host``), so SQLite is rebuilt from that.
    """
    if (connection.conn_type or "").lower() == "sqlite":
        path = connection.host or connection.schema
        if not path:
            raise ValueError("the SQLite connection names no database file")
        return f"sqlite:///{path}"
    return connection.get_uri()


def stories_database_url(settings: Settings) -> str:
    """The URL of the Airflow connection ``settings.airflow_conn_id``, else
    ``settings.database_url`` (``STORYLINE_DATABASE_URL``) when there is no such connection."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = BaseHook.get_connection(settings.airflow_conn_id)
    except AirflowNotFoundException:
        return settings.database_url
    return database_url(connection)


def task_settings() -> Settings:
    """The settings of a running task, with the stories database from the connection."""
    settings = Settings.load()
    return Settings.load(database_url=stories_database_url(settings))


class StructuredTaskLogs(logging.Handler):
    """Hands each ``pipeline`` log record to structlog with its ``extra=`` fields as keys.

    Airflow 3 task logs are structlog JSON lines; records from the standard library reach
    them through a ``ProcessorFormatter`` whose chain keeps the message but drops the
    record's extra attributes (there is no setting to add structlog's ``ExtraAdder``). So
    ``log.info("feed stored", extra={"feed": ...})`` would read ``"event":"feed stored"``
    alone. Bound to structlog directly, the fields become keys of the JSON line.
    """

    def emit(self, record: logging.LogRecord) -> None:
        import structlog

        from pipeline.logs import record_fields

        fields: dict[str, Any] = {key: jsonable(v) for key, v in record_fields(record).items()}
        if record.exc_info:
            fields["exc_info"] = record.exc_info
        try:
            structlog.get_logger(record.name).log(record.levelno, record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


def structured_task_logs() -> None:
    """Route the pipeline's log records through :class:`StructuredTaskLogs` (idempotent).

    Called by every task before it runs pipeline code, in the task's own process, where
    Airflow has configured structlog; the DAG processor never calls it.
    """
    logger = logging.getLogger("pipeline")
    if not any(isinstance(handler, StructuredTaskLogs) for handler in logger.handlers):
        logger.addHandler(StructuredTaskLogs())
    logger.propagate = False


@contextmanager
def stories_db(*, migrate: bool = False) -> Iterator[tuple[Settings, Engine]]:
    """Settings and an engine on the stories database, disposed of afterwards.

    The schema is created or upgraded first with ``migrate`` (idempotent), else it must
    exist already (``storyline init``): otherwise the task fails with one sentence.
    """
    from pipeline.db import Timeouts, make_engine, require_schema
    from pipeline.db import migrate as migrate_schema

    structured_task_logs()
    settings = task_settings()
    engine = make_engine(settings.database_url, Timeouts.of(settings))
    try:
        if migrate:
            migrate_schema(engine)
        else:
            require_schema(engine)
        yield settings, engine
    finally:
        engine.dispose()


@contextmanager
def stop_on_sigterm() -> Iterator[StopFlag]:
    """A stop flag that SIGTERM sets, for the stage the task runs (its ``stop=``).

    Airflow stops a running task with SIGTERM to the task's process: when it is cleared or
    marked failed or success (the supervisor's heartbeat is refused), when its worker or
    pod shuts down (the supervisor passes the signal on), or past ``task_success_overtime``.
    The task runner's own handler then calls the operator's ``on_kill`` (nothing, for a
    ``@task``) and lets the task go on, and the supervisor kills it (SIGKILL) 5 s later. So
    this handler, chained before Airflow's, asks the stage to stop at its next safe point:
    it raises ``StoppedError`` ("stopped by signal TERM; 3 of 8 due feeds stored, a rerun
    continues"), the unit in flight committed or rolled back, and the task fails with that
    line in its log (up for retry while it has tries left; a task cleared or marked keeps
    the state it was given). ``execution_timeout`` is not a signal: Airflow raises
    ``AirflowTaskTimeout`` in the task, which rolls its transaction back.
    """
    from pipeline.stopping import StopFlag

    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers belong to the main thread; a test's thread has none
        return
    airflows = signal.getsignal(signal.SIGTERM)

    def stop(signum: int, frame: FrameType | None) -> None:
        flag.request(signum)
        if callable(airflows):
            airflows(signum, frame)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, airflows)


def run_time(context: Mapping[str, Any], *, fallback: datetime | None = None) -> datetime:
    """The moment a run stands for, as a plain UTC ``datetime``.

    ``data_interval_end`` if the run has one, else ``logical_date``, else the run's
    ``run_after`` (asset-triggered and manual runs have neither in Airflow 3; ``run_after``
    is fixed for the run, so a retry or a rerun sees the same moment), else ``fallback``
    or the current time.
    """
    for key in ("data_interval_end", "logical_date"):
        value = context.get(key)
        if isinstance(value, datetime):
            return _plain(value)
    run_after = getattr(context.get("dag_run"), "run_after", None)
    if isinstance(run_after, datetime):
        return _plain(run_after)
    return fallback or datetime.now(UTC)


def _plain(value: datetime) -> datetime:
    # Airflow hands out pendulum DateTimes; the pipeline wants plain datetimes.
    return datetime.fromisoformat(value.isoformat()).astimezone(UTC)

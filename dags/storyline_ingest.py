"""``storyline_ingest``: fetch the feeds that are due, every ``ingest_interval_minutes``.

* ``plan_feeds`` creates or upgrades the stories schema (a no-op once at head), then lists
  the feeds that are due, in batches of about ``ingest_task_feeds`` (a host's feeds share
  a batch, so ``fetch_per_host`` holds across workers);
* ``fetch_feeds`` is mapped over the batches (named after their feeds) and runs in the
  ``feed_pool`` pool: each fetches its feeds and stores new and changed articles, one
  transaction per feed;
* ``publish`` marks the ``storyline_articles`` asset, which starts ``storyline_extract``
  (and through it ``storyline_embed``), when articles are waiting for their page or an
  embedding (asked of the database on every run, also when no feed was due: a page's
  retry comes due with no new article); otherwise it is skipped.

Failures: a ``fetch_feeds`` task **fails** when every feed it held failed (so its retries,
and then Airflow's failure alerts, fire); when only some failed it succeeds, logs a
warning and lists them under ``errors`` in its return value. A failed fetch task fails
the run (``publish`` is then ``upstream_failed``; the next run's ``publish`` finds the
articles the other batches stored).

A rerun fetches only the feeds still due: a feed stored by an earlier attempt has its next
check in the future, and stored entries are matched, never inserted twice. A retry of a
fetch task fetches its whole batch again (a failed feed's own backoff would otherwise make
the retry find nothing due and succeed, hiding the outage).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from _common import (
    ARTICLES,
    DAG_DEFAULTS,
    parse_settings,
    stop_on_sigterm,
    stories_db,
)
from airflow.sdk import DeltaTriggerTimetable, TriggerRule, dag, get_current_context, task

from pipeline.reports import as_json

SETTINGS = parse_settings()

REPORT_SUMS = (
    "feeds",
    "failed",
    "not_modified",
    "entries",
    "new_articles",
    "updated_articles",
    "reprints",
)


@dag(
    dag_id="storyline_ingest",
    description="Fetch the feeds that are due and store new articles.",
    schedule=DeltaTriggerTimetable(timedelta(minutes=SETTINGS.ingest_interval_minutes)),
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def storyline_ingest() -> None:
    @task
    def plan_feeds() -> list[dict[str, Any]]:
        """Migrate the schema, then list the due feeds in batches for ``fetch_feeds``."""
        from pipeline.batches import due_feed_batches

        with stories_db(migrate=True) as (settings, engine):
            batches = due_feed_batches(engine, datetime.now(UTC), settings.ingest_task_feeds)
        return [{"feed_ids": list(batch.feed_ids), "label": batch.label} for batch in batches]

    @task(pool=SETTINGS.feed_pool, map_index_template="{{ task.op_kwargs['batch']['label'] }}")
    def fetch_feeds(batch: dict[str, Any]) -> dict[str, Any]:
        """Fetch one batch of feeds (those still due) and store their articles.

        Fails when every feed of the batch failed; a partial failure succeeds with a warning.
        """
        import logging

        from pipeline.ingest.stage import check_outage, ingest

        retry = int(get_current_context()["ti"].try_number) > 1
        with stories_db() as (settings, engine), stop_on_sigterm() as stop:
            report = ingest(engine, settings, feed_ids=batch["feed_ids"], force=retry, stop=stop)
        check_outage(report)
        if report.partial:
            logging.getLogger("pipeline.ingest.stage").warning(
                "some feeds failed",
                extra={
                    "batch": batch["label"],
                    "failed": report.failed,
                    "of": report.feeds,
                    "errors": report.errors,
                },
            )
        return as_json(report)

    @task(outlets=[ARTICLES], trigger_rule=TriggerRule.NONE_FAILED)
    def publish(reports: Any) -> dict[str, Any]:
        """Mark ``storyline_articles`` when articles wait for their page or an embedding;
        else skip.

        Runs also when ``fetch_feeds`` was skipped (no feed due): articles stored by an
        interrupted run, and pages due for another try, must not wait until some feed is due.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.batches import missing_embeddings, pages_waiting

        # One slice, not iteration: iterating asks for item after item until one is
        # missing, which the task SDK logs as an ERROR ("XCom not found").
        reports = list(reports[:]) if reports is not None else []
        summary: dict[str, Any] = {key: sum(r[key] for r in reports) for key in REPORT_SUMS}
        summary["errors"] = {k: v for r in reports for k, v in r["errors"].items()}
        with stories_db() as (settings, engine):
            # Asked of the database, not the reports: articles stored by an earlier,
            # interrupted attempt or run are waiting too.
            waiting = bool(missing_embeddings(engine, settings, limit=1)) or pages_waiting(
                engine, datetime.now(UTC)
            )
        if not waiting:
            raise AirflowSkipException("no article is waiting for its page or an embedding")
        get_current_context()["outlet_events"][ARTICLES].extra = {
            key: summary[key] for key in ("feeds", "new_articles", "updated_articles")
        }
        return summary

    publish(fetch_feeds.expand(batch=plan_feeds()))


storyline_ingest()

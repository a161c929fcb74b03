"""``storyline_extract``: read the pages of the articles waiting for one, before embedding.

Scheduled on the ``storyline_articles`` asset (marked by ``storyline_ingest`` when articles
wait for their page or an embedding).

* ``plan_pages`` lists the articles whose page is due (new teasers, and pages whose retry
  time has come: the extract stage's own selection), in batches of about
  ``extract_task_articles``; a host's pages share a batch, so ``page_per_host`` holds
  across workers and one slow site holds one slot;
* ``extract_pages`` is mapped over the batches (named after their size and hosts) and runs
  in the ``feed_pool`` pool: each reads its pages and stores each outcome as it comes;
* ``publish`` marks the ``storyline_texts`` asset, which starts ``storyline_embed``, when
  articles wait for an embedding (asked of the database, also when no page was due or a
  batch failed); otherwise it is skipped;
* ``check_batches`` fails the run when an ``extract_pages`` task failed; otherwise it is
  skipped.

Failures: a dead page is normal (a 404, a 503, robots.txt, a consent wall...): it is
recorded on its article and the task succeeds. An ``extract_pages`` task **fails** when no
page of its batch could be reached (connection errors, timeouts, robots.txt unreadable:
the network is likely down), at once and without Airflow's retries: each page already
waits for its own next try (``page_retry_base_minutes``), so a retry minutes later would
find nothing due and succeed, hiding the outage. Other errors (the database) are retried
as everywhere. ``publish`` runs all the same (trigger rule ``all_done``): the articles are
embedded and clustered on their feed's text, and re-embedded when their page arrives.
``check_batches`` then fails the run, so the failure shows on the run, not only on the task.

A rerun reads only what is still pending: each outcome is stored as it comes.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from _common import (
    ARTICLES,
    DAG_DEFAULTS,
    TEXTS,
    parse_settings,
    stop_on_sigterm,
    stories_db,
)
from airflow.sdk import TriggerRule, dag, get_current_context, task

from pipeline.reports import as_json

SETTINGS = parse_settings()

REPORT_SUMS = ("articles", "ok", "kept", "skipped", "retrying", "failed")


@dag(
    dag_id="storyline_extract",
    description="Read the pages of the articles waiting for one.",
    schedule=[ARTICLES],
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def storyline_extract() -> None:
    @task
    def plan_pages() -> list[dict[str, Any]]:
        """The articles whose page is due, in batches by host for ``extract_pages``."""
        from pipeline.batches import page_batches

        with stories_db() as (settings, engine):
            batches = page_batches(engine, datetime.now(UTC), settings.extract_task_articles)
        return [{"article_ids": list(b.article_ids), "label": b.label} for b in batches]

    @task(pool=SETTINGS.feed_pool, map_index_template="{{ task.op_kwargs['batch']['label'] }}")
    def extract_pages(batch: dict[str, Any]) -> dict[str, Any]:
        """Read the pages of one batch (those still due) and store each outcome.

        Fails, without retries, when no page of the batch could be reached.
        """
        from airflow.sdk.exceptions import AirflowFailException

        from pipeline.errors import OutageError
        from pipeline.extract.stage import check_outage, extract

        with stories_db() as (settings, engine), stop_on_sigterm() as stop:
            report = extract(engine, settings, article_ids=batch["article_ids"], stop=stop)
        try:
            check_outage(report)
        except OutageError as error:
            raise AirflowFailException(f"{batch['label']}: {error}") from error
        return as_json(report)

    @task(outlets=[TEXTS], trigger_rule=TriggerRule.ALL_DONE)
    def publish(reports: Any) -> dict[str, Any]:
        """Mark ``storyline_texts`` when articles wait for an embedding; else skip."""
        from airflow.sdk.exceptions import AirflowSkipException

        from pipeline.batches import missing_embeddings

        # One slice, not iteration (see storyline_ingest.publish); a failed task has none.
        reports = list(reports[:]) if reports is not None else []
        summary: dict[str, Any] = {key: sum(r[key] for r in reports) for key in REPORT_SUMS}
        reasons = sum((Counter(r["reasons"]) for r in reports), Counter[str]())
        summary["reasons"] = dict(sorted(reasons.items()))
        with stories_db() as (settings, engine):
            waiting = bool(missing_embeddings(engine, settings, limit=1))
        if not waiting:
            raise AirflowSkipException("no article is waiting for an embedding")
        get_current_context()["outlet_events"][TEXTS].extra = {
            key: summary[key] for key in ("articles", "ok")
        }
        return summary

    @task(trigger_rule=TriggerRule.ONE_FAILED)
    def check_batches() -> None:
        """Fail the run when an ``extract_pages`` task failed (else this task is skipped)."""
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("an extract_pages task failed: see its log")

    pages = extract_pages.expand(batch=plan_pages())
    publish(pages)
    pages >> check_batches()


storyline_extract()

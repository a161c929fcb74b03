"""``storyline_maintenance``: daily upkeep of the stories database.

* ``mark_dormant`` turns active stories with no article for ``dormant_after_hours`` into
  dormant ones (clustering does it too; this covers days without clustering);
* ``apply_retention`` deletes stories whose newest article is older than
  ``retention_days``, and articles that old which belong to no kept story, with their
  embeddings (nothing when ``retention_days`` is unset);
* ``optimise`` vacuums and analyses the Storyline tables (PostgreSQL), or analyses and,
  when a quarter of the file is free, vacuums it (SQLite);
* ``publish`` marks the ``storyline_stories`` asset when stories went dormant or were
  deleted; otherwise it is skipped.

Every step is idempotent: times are the run's (``data_interval_end``, else its
``run_after``), so a rerun of the same run finds nothing left to do.
"""

from __future__ import annotations

from typing import Any

from _common import (
    DAG_DEFAULTS,
    STORIES,
    run_time,
    stories_db,
)
from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from pipeline.reports import as_json


@dag(
    dag_id="storyline_maintenance",
    description="Dormant stories, retention, VACUUM/ANALYZE.",
    schedule=CronTriggerTimetable("30 3 * * *", timezone="UTC"),
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def storyline_maintenance() -> None:
    @task
    def mark_dormant() -> dict[str, Any]:
        """Active stories quiet for ``dormant_after_hours`` go dormant."""
        from pipeline.maintenance import mark_dormant_stories

        now = run_time(get_current_context())
        with stories_db() as (settings, engine):
            dormant = mark_dormant_stories(engine, settings, now)
        return {"now": now.isoformat(), "dormant": len(dormant), "story_ids": dormant}

    @task
    def apply_retention() -> dict[str, Any]:
        """Delete what is older than ``retention_days``, keeping stories whole."""
        from pipeline.maintenance import apply_retention as run_retention

        now = run_time(get_current_context())
        with stories_db() as (settings, engine):
            report = run_retention(engine, settings, now)
        return as_json(report)

    @task
    def optimise() -> dict[str, Any]:
        """VACUUM / ANALYZE as the database allows."""
        from pipeline.maintenance import optimise as run_optimise

        with stories_db() as (_, engine):
            report = run_optimise(engine)
        return as_json(report)

    @task(outlets=[STORIES])
    def publish(dormant: Any, retention: Any) -> dict[str, Any]:
        """Mark ``storyline_stories`` when stories went dormant or were deleted; else skip."""
        from airflow.sdk.exceptions import AirflowSkipException

        changed = {"dormant": dormant["dormant"], "deleted": retention["stories"]}
        if not any(changed.values()):
            raise AirflowSkipException("no story changed")
        get_current_context()["outlet_events"][STORIES].extra = changed
        return changed

    dormant = mark_dormant()
    retention = apply_retention()
    dormant >> retention >> optimise()
    publish(dormant, retention)


storyline_maintenance()

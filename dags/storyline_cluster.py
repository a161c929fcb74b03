"""``storyline_cluster``: re-cluster the recent window and update the stories.

Runs when ``storyline_embed`` marks the ``storyline_embeddings`` asset, and at least once
an hour (so stories go dormant on time even when nothing arrives). One run at a time.

* ``cluster`` re-clusters the articles published in the window ending at the run's time
  (``data_interval_end`` of an hourly run; ``run_after`` of a run started by the asset
  or by hand, which have no logical date) and carries the clusters into the story
  tables in one transaction. A window unchanged since the last run is skipped;
* ``publish`` marks the ``storyline_stories`` asset when stories were created, changed
  or went dormant; otherwise it is skipped.

A retry or a rerun of the same run clusters the same window: unchanged, it writes
nothing; stories keep their ids through shared articles, so nothing is doubled.
"""

from __future__ import annotations

from typing import Any

from _common import (
    DAG_DEFAULTS,
    EMBEDDINGS,
    STORIES,
    run_time,
    stop_on_sigterm,
    stories_db,
)
from airflow.sdk import (
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    dag,
    get_current_context,
    task,
)

from pipeline.reports import as_json


@dag(
    dag_id="storyline_cluster",
    description="Re-cluster the recent window and update the stories.",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"), assets=[EMBEDDINGS]
    ),
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def storyline_cluster() -> None:
    @task
    def cluster() -> dict[str, Any]:
        """Re-cluster the window ending at the run's time and update the stories."""
        from pipeline.stories.stage import cluster as run_cluster

        now = run_time(get_current_context())
        with stories_db() as (settings, engine), stop_on_sigterm() as stop:
            report = run_cluster(engine, settings, now, stop=stop)
        return {**as_json(report), "now": now.isoformat()}

    @task(outlets=[STORIES])
    def publish(report: Any) -> dict[str, Any]:
        """Mark ``storyline_stories`` when stories changed; else skip."""
        from airflow.sdk.exceptions import AirflowSkipException

        changed = {key: report[key] for key in ("stories_created", "stories_changed", "dormant")}
        if not any(changed.values()):
            raise AirflowSkipException("no story changed")
        get_current_context()["outlet_events"][STORIES].extra = changed
        return changed

    publish(cluster())


storyline_cluster()

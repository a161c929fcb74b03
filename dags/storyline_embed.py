"""``storyline_embed``: embed the articles that have no vector yet, when new ones arrive.

Scheduled on the ``storyline_texts`` asset (marked by ``storyline_extract`` once the
pages due were read), so an article is embedded with its page's text when it has one.

* ``plan_batches`` lists the articles with no current embedding for the configured model,
  split into batches of at most ``embed_task_batch``;
* ``embed_batch`` is mapped over the batches, so several workers share the work: each
  embeds its articles (one transaction per ``embed_batch_size``);
* ``tag_entities`` then finds the people, places and organisations of every article not
  read for them yet (new, or whose text changed; its own selection, so a database migrated
  from before entities is caught up too), whether or not every embed task succeeded: the
  entities do not depend on the vectors, and the cluster run's keywords leave them out;
* ``publish`` marks the ``storyline_embeddings`` asset, which starts
  ``storyline_cluster``, when the plan had work; otherwise it is skipped.

One run at a time: runs overlapping would plan the same articles. A retry or a rerun
embeds only what is still missing (unique ``(article, model)``).
"""

from __future__ import annotations

from typing import Any

from _common import (
    DAG_DEFAULTS,
    EMBEDDINGS,
    TEXTS,
    stop_on_sigterm,
    stories_db,
)
from airflow.sdk import dag, get_current_context, task

from pipeline.reports import as_json

MAP_INDEX = (
    "{% set ids = task.op_kwargs['article_ids'] %}"
    "{{ ids | length }} articles, ids {{ ids | first }}-{{ ids | last }}"
)


@dag(
    dag_id="storyline_embed",
    description="Embed the articles that have no vector yet.",
    schedule=[TEXTS],
    doc_md=__doc__,
    **DAG_DEFAULTS,
)
def storyline_embed() -> None:
    @task
    def plan_batches() -> list[list[int]]:
        """The ids of the articles missing an embedding, in batches for ``embed_batch``."""
        from pipeline.batches import embed_batches

        with stories_db() as (settings, engine):
            return embed_batches(engine, settings)

    @task(map_index_template=MAP_INDEX)
    def embed_batch(article_ids: list[int]) -> dict[str, Any]:
        """Embed those of ``article_ids`` that still need it."""
        from pipeline.embed.stage import embed

        with stories_db() as (settings, engine), stop_on_sigterm() as stop:
            report = embed(engine, settings, article_ids=article_ids, stop=stop)
        return {**as_json(report), "articles": len(article_ids)}

    @task(trigger_rule="all_done")
    def tag_entities() -> dict[str, Any]:
        """Find the entities of the articles whose text was not read for them yet."""
        from pipeline.entities.stage import tag_entities as run_entities

        with stories_db() as (settings, engine), stop_on_sigterm() as stop:
            return as_json(run_entities(engine, settings, stop=stop))

    @task(outlets=[EMBEDDINGS])
    def publish(batches: Any, reports: Any, named: Any) -> dict[str, Any]:
        """Mark ``storyline_embeddings`` when this run had articles to embed; else skip."""
        from airflow.sdk.exceptions import AirflowSkipException

        # One slice, not iteration (see storyline_ingest.publish: no "XCom not found" ERROR).
        reports = list(reports[:])
        summary = {
            "tasks": len(batches),
            "articles": sum(len(batch) for batch in batches),
            "embedded": sum(r["embedded"] for r in reports),
            "refreshed": sum(r["refreshed"] for r in reports),
            "articles_per_task": [len(batch) for batch in batches],
            "entities_read": named["articles"],
        }
        # Decided on the plan, not on the counts: a retried task whose earlier attempt
        # embedded everything reports 0, yet the run made those embeddings.
        if not summary["articles"]:
            raise AirflowSkipException("no article needed an embedding")
        get_current_context()["outlet_events"][EMBEDDINGS].extra = {
            key: summary[key] for key in ("tasks", "articles", "embedded", "refreshed")
        }
        return summary

    batches = plan_batches()
    embedded = embed_batch.expand(article_ids=batches)
    named = tag_entities()
    embedded >> named
    publish(batches, embedded, named)


storyline_embed()

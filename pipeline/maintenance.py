"""Maintenance: dormant stories, retention, and the database's own housekeeping.

Run daily (the ``storyline_maintenance`` DAG). Every step is idempotent: a rerun finds
nothing left to do.

**Retention** keeps stories whole. A story is deleted, with its memberships, events and
timeline, once its newest article (``last_seen``) is older than ``retention_days``; an
article that old is deleted, with its embeddings, only when it belongs to no kept story.
So a story's counts always describe articles that still exist, and a long-running story
keeps its early coverage for as long as it is kept.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, exists, func, select, text, update
from sqlalchemy.orm import Session

from models import Article, Base, ClusterRun, Story, StoryArticle, StoryEvent
from pipeline.db import session_scope, unbounded_statements
from pipeline.locks import STORIES_LOCK, exclusive
from pipeline.settings import Settings
from pipeline.stories.status import RunStatus
from pipeline.stories.write import mark_dormant

log = logging.getLogger(__name__)

SQLITE_VACUUM_FREE_SHARE = 0.25
"""SQLite is rewritten (VACUUM) only when at least this share of its pages is free."""


@dataclass
class RetentionReport:
    cutoff: datetime | None
    """Rows older than this were considered; ``None`` when retention is off."""
    stories: int = 0
    articles: int = 0
    cluster_runs: int = 0


@dataclass
class OptimiseReport:
    dialect: str
    vacuumed: bool
    """PostgreSQL: every Storyline table was vacuumed; SQLite: the file was rewritten."""
    analysed: bool
    seconds: float
    tables: list[str] = field(default_factory=list)


def _stories_lock(engine: Engine, settings: Settings) -> AbstractContextManager[None]:
    """Maintenance rewrites story rows too: never beside a cluster run (``pipeline.locks``)."""
    return exclusive(
        engine, STORIES_LOCK, wait_seconds=settings.stage_lock_wait_seconds, what="story update"
    )


def mark_dormant_stories(engine: Engine, settings: Settings, now: datetime) -> list[int]:
    """Active stories with no article for ``dormant_after_hours`` go dormant; their ids."""
    with _stories_lock(engine, settings), session_scope(engine) as session:
        return mark_dormant(session, now, timedelta(hours=settings.dormant_after_hours))


def apply_retention(engine: Engine, settings: Settings, now: datetime) -> RetentionReport:
    """Delete what is older than ``retention_days`` (see the module docstring), at once.

    One transaction: a killed run deletes nothing, a rerun deletes the same rows.
    """
    if settings.retention_days is None:
        return RetentionReport(cutoff=None)
    cutoff = now - timedelta(days=settings.retention_days)
    report = RetentionReport(cutoff=cutoff)
    with _stories_lock(engine, settings), session_scope(engine) as session:
        old = list(session.scalars(select(Story.id).where(Story.last_seen < cutoff)))
        # Kept rows may point at a deleted story: a merge survivor, the story a split
        # came from. Those references lose their target; the rows stay.
        for start in range(0, len(old), 1000):
            chunk = old[start : start + 1000]
            session.execute(
                update(Story)
                .where(Story.merged_into_id.in_(chunk))
                .values(merged_into_id=None)
                .execution_options(synchronize_session=False)
            )
            session.execute(
                update(StoryEvent)
                .where(StoryEvent.other_story_id.in_(chunk))
                .values(other_story_id=None)
                .execution_options(synchronize_session=False)
            )
            # memberships, events and timeline go with the story (ON DELETE CASCADE)
            report.stories += len(
                session.execute(
                    delete(Story)
                    .where(Story.id.in_(chunk))
                    .returning(Story.id)
                    .execution_options(synchronize_session=False)
                ).all()
            )
        member = exists().where(StoryArticle.article_id == Article.id)
        # embeddings go with the article; reprints of it lose their link (ON DELETE SET NULL)
        report.articles = len(
            session.execute(
                delete(Article)
                .where(Article.published_at < cutoff, ~member)
                .returning(Article.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
        report.cluster_runs = _delete_old_runs(session, cutoff)
    log.info(
        "retention applied",
        extra={
            "cutoff": cutoff.isoformat(),
            "stories": report.stories,
            "articles": report.articles,
            "cluster_runs": report.cluster_runs,
        },
    )
    return report


def _delete_old_runs(session: Session, cutoff: datetime) -> int:
    """Delete cluster runs whose window ended before ``cutoff`` and that no kept row names.

    The last good run stays: the next clustering compares its window with it.
    """
    last_ok = session.scalar(
        select(func.max(ClusterRun.id)).where(ClusterRun.status == RunStatus.OK)
    )
    referenced = [
        exists().where(Story.created_run_id == ClusterRun.id),
        exists().where(Story.updated_run_id == ClusterRun.id),
        exists().where(StoryEvent.run_id == ClusterRun.id),
        exists().where(StoryArticle.run_id == ClusterRun.id),
    ]
    query = delete(ClusterRun).where(ClusterRun.now < cutoff, *[~ref for ref in referenced])
    if last_ok is not None:
        query = query.where(ClusterRun.id != last_ok)
    return len(
        session.execute(
            query.returning(ClusterRun.id).execution_options(synchronize_session=False)
        ).all()
    )


def optimise(engine: Engine) -> OptimiseReport:
    """Reclaim space and refresh the planner's statistics, as the database allows.

    PostgreSQL: ``VACUUM (ANALYZE)`` of each Storyline table (never the whole database,
    which may hold Airflow's metadata too). SQLite: ``ANALYZE``, a WAL checkpoint, and
    ``VACUUM`` only when a quarter of the file is free pages, since it rewrites the file.
    """
    start = time.perf_counter()
    tables = [table.name for table in Base.metadata.sorted_tables]
    dialect = engine.dialect.name
    # VACUUM cannot run inside a transaction block.
    with (
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        unbounded_statements(conn),  # VACUUM grows with the tables and must finish
    ):
        if dialect == "postgresql":
            for name in tables:
                conn.execute(text(f'VACUUM (ANALYZE) "{name}"'))
            vacuumed = True
        else:
            conn.exec_driver_sql("ANALYZE")
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
            free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
            vacuumed = pages > 0 and free >= SQLITE_VACUUM_FREE_SHARE * pages
            if vacuumed:
                conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    report = OptimiseReport(
        dialect=dialect,
        vacuumed=vacuumed,
        analysed=True,
        seconds=time.perf_counter() - start,
        tables=tables,
    )
    log.info(
        "database optimised",
        extra={"dialect": dialect, "vacuumed": vacuumed, "seconds": round(report.seconds, 2)},
    )
    return report

"""Cluster stage: re-cluster the recent window and carry the result into the story tables.

The run in three rooms: ``state.py`` reads the window and the stories it may continue,
the pure clusterer and ``plan.py`` decide, ``write.py`` writes memberships and story rows,
all in one transaction, so a killed run changes nothing. A window and settings equal to
the last run's are not recomputed (``input_hash``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models import ClusterRun
from models.types import FloatArray
from pipeline.db import session_scope
from pipeline.errors import StorylineError
from pipeline.locks import STORIES_LOCK, exclusive
from pipeline.settings import ClusteringSettings, Settings
from pipeline.stopping import StopFlag
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.clustering.window import ArticleText
from pipeline.stories.knobs import MatchKnobs
from pipeline.stories.plan import plan_stories
from pipeline.stories.state import (
    WindowArticle,
    count_unembedded,
    load_state,
    load_window,
    models_with_vectors,
)
from pipeline.stories.status import RunStatus
from pipeline.stories.write import mark_dormant, summarise_unsummarised, write_plan

log = logging.getLogger(__name__)


@dataclass
class ClusterReport:
    run_id: int | None
    articles: int
    clusters: int
    noise: int
    stories_created: int
    stories_changed: int
    skipped: bool = False
    """True when the window and parameters equal the last run's: nothing was recomputed."""
    dormant: int = 0
    """Stories that went dormant in this run."""
    not_embedded: int = 0
    """Articles published in the window that have no embedding for the model yet."""


class NotEmbeddedError(StorylineError):
    """The window holds articles, but none has a vector for the configured model."""


def cluster(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    *,
    stop: StopFlag | None = None,
) -> ClusterReport:
    """Re-cluster the articles published in ``[now - window, now]`` and update stories.

    One run at a time per database (``pipeline.locks``): a second waits for the first,
    up to ``stage_lock_wait_seconds``, then raises ``BusyError``. A ``stop`` asked for is
    honoured before the clustering, before the write (no story is changed) and after it.
    """
    stop = stop or StopFlag()
    with exclusive(
        engine,
        STORIES_LOCK,
        wait_seconds=settings.stage_lock_wait_seconds,
        what="cluster run",
        stop=stop,
    ):
        report = _cluster(engine, settings, now or datetime.now(UTC), stop)
    stop.check(
        "the window was unchanged"
        if report.skipped
        else f"the stories were updated (cluster run {report.run_id})"
    )
    return report


def _cluster(engine: Engine, settings: Settings, now: datetime, stop: StopFlag) -> ClusterReport:
    window_start = now - timedelta(hours=settings.window_hours)
    knobs = MatchKnobs.of(settings)
    idle = timedelta(hours=settings.dormant_after_hours)
    with session_scope(engine) as session:
        window, waiting = _read_window(session, knobs.model, window_start, now)
        digest = input_hash(window, settings.clustering, knobs)
        last = session.scalars(
            select(ClusterRun)
            .where(ClusterRun.status == RunStatus.OK)
            .order_by(ClusterRun.id.desc())
        ).first()
        if last is not None and last.input_hash == digest:
            summarise_unsummarised(session, window)
            return _unchanged(session, last, len(window), waiting, mark_dormant(session, now, idle))

    stop.check("no story was changed")
    vectors = (
        np.stack([article.vector for article in window])
        if window
        else np.zeros((0, 1), dtype=np.float32)
    )
    labels = _cluster_window(window, vectors, settings.clustering, window_start, now)
    stop.check("the window was clustered, no story was changed")
    with session_scope(engine) as session:
        run = ClusterRun(
            started_at=datetime.now(UTC),
            now=now,
            window_start=window_start,
            model=knobs.model,
            status=RunStatus.RUNNING,
            params={
                **settings.clustering.model_dump(),
                **knobs.recorded(),
                "window_hours": settings.window_hours,
            },
            input_hash=digest,
        )
        session.add(run)
        session.flush()
        state = load_state(session, window, labels, vectors, knobs, window_start)
        created, changed = write_plan(
            session, run, window, state.current, plan_stories(state), knobs.text_chars
        )
        session.flush()
        summarise_unsummarised(session, window)
        dormant = mark_dormant(session, now, idle)
        run.status = RunStatus.OK
        run.finished_at = datetime.now(UTC)
        run.article_count = len(window)
        run.cluster_count = len(set(labels.tolist()) - {NOISE})
        run.noise_count = int(np.count_nonzero(labels == NOISE))
        run.stories_created = created
        run.stories_changed = changed
        return ClusterReport(
            run_id=run.id,
            articles=run.article_count,
            clusters=run.cluster_count,
            noise=run.noise_count,
            stories_created=created,
            stories_changed=changed,
            dormant=len(dormant),
            not_embedded=waiting,
        )


def _read_window(
    session: Session, model: str, start: datetime, end: datetime
) -> tuple[list[WindowArticle], int]:
    """The window's embedded articles and how many wait for a vector; refuses a window
    whose articles all wait (the model setting names a model that embedded none)."""
    window = load_window(session, model, start, end)
    waiting = count_unembedded(session, model, start, end)
    if waiting and not window:
        raise NotEmbeddedError(
            f"none of the {waiting} articles published in the window has an embedding "
            f"for model {model!r}; run `storyline embed` with this model first, or set "
            f"STORYLINE_MODEL_NAME to the model that embedded them "
            f"({models_with_vectors(session)})"
        )
    return window, waiting


def _unchanged(
    session: Session, last: ClusterRun, articles: int, waiting: int, dormant: list[int]
) -> ClusterReport:
    """The report of a run skipped because its input equals the last run's."""
    log.info(
        "window unchanged",
        extra={"run_id": last.id, "articles": articles, "dormant": len(dormant)},
    )
    return ClusterReport(
        run_id=last.id,
        articles=articles,
        clusters=last.cluster_count,
        noise=last.noise_count,
        stories_created=0,
        stories_changed=0,
        skipped=True,
        dormant=len(dormant),
        not_embedded=waiting,
    )


def _cluster_window(
    window: list[WindowArticle],
    vectors: FloatArray,
    params: ClusteringSettings,
    window_start: datetime,
    now: datetime,
) -> np.ndarray:
    """The window's cluster labels (pure clustering), logged with its size and time."""
    texts = [ArticleText(article.title, article.summary) for article in window]
    started = time.perf_counter()
    labels = cluster_vectors(vectors, params, texts)
    log.info(
        "clustered window",
        extra={
            "window_start": window_start,
            "window_end": now,
            "articles": len(window),
            "clusters": len(set(labels.tolist()) - {NOISE}),
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return labels


def input_hash(window: list[WindowArticle], params: ClusteringSettings, knobs: MatchKnobs) -> str:
    """What a run's result depends on: the settings, the model, and each window article's
    id and content hash. A run whose hash equals the last one's changes nothing."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            {"params": params.model_dump(), "model": knobs.model, "match": knobs.recorded()},
            sort_keys=True,
        ).encode()
    )
    for article in window:
        digest.update(f"{article.id}:{article.content_hash};".encode())
    return digest.hexdigest()

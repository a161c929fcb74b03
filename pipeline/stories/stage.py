"""Cluster stage: re-cluster the recent window and carry the result into the story tables.

Reads the window from the database, hands arrays to the pure clusterer and matcher, then
writes memberships and story rows in one transaction, so a killed run changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, and_, delete, func, or_, select, text
from sqlalchemy.orm import Session

from models import Article, ClusterRun, Embedding, Feed, Story, StoryArticle, StoryEvent, StoryHour
from models.types import FloatArray
from pipeline.db import session_scope
from pipeline.errors import StorylineError
from pipeline.locks import STORIES_LOCK, exclusive
from pipeline.settings import ClusteringSettings, Settings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.clustering.vectors import centroid, normalise
from pipeline.stories.clustering.window import ArticleText
from pipeline.stories.history import EventKind, membership_events
from pipeline.stories.history import StoryEvent as HistoryEvent
from pipeline.stories.keywords import story_keywords
from pipeline.stories.plan import PLANNED, LoneArticle, StoryPlan, StoryState, plan_stories
from pipeline.stories.status import RunStatus, StoryStatus
from pipeline.stories.tracking import SIMILARITY_TOLERANCE, KnownStory, WordCheck
from pipeline.text import article_text, informative_title
from pipeline.vector_index import cosine_distance, of_dimension

log = logging.getLogger(__name__)

LIVE = (StoryStatus.ACTIVE, StoryStatus.DORMANT)
"""Stories a new cluster or a lone article may continue: a dormant one is revived."""
KEYWORDS = 8
WORD_CHECK_ARTICLES = 10
"""A story's latest articles whose words the word check of a match reads."""


@dataclass(frozen=True)
class WindowArticle:
    id: int
    content_hash: str
    vector: FloatArray
    title: str
    summary: str


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


def cluster(engine: Engine, settings: Settings, now: datetime | None = None) -> ClusterReport:
    """Re-cluster the articles published in ``[now - window, now]`` and update stories.

    One run at a time per database (``pipeline.locks``): a second waits for the first,
    up to ``stage_lock_wait_seconds``, then raises ``BusyError``.
    """
    with exclusive(
        engine, STORIES_LOCK, wait_seconds=settings.stage_lock_wait_seconds, what="cluster run"
    ):
        return _cluster(engine, settings, now or datetime.now(UTC))


def _cluster(engine: Engine, settings: Settings, now: datetime) -> ClusterReport:
    window_start = now - timedelta(hours=settings.window_hours)
    params = settings.clustering
    model = settings.model_name
    with session_scope(engine) as session:
        window = _load_window(session, model, window_start, now)
        waiting = _unembedded(session, model, window_start, now)
        if waiting and not window:
            raise NotEmbeddedError(
                f"none of the {waiting} articles published in the window has an embedding "
                f"for model {model!r}; run `storyline embed` with this model first, or set "
                f"STORYLINE_MODEL_NAME to the model that embedded them "
                f"({_models_with_vectors(session)})"
            )
        digest = _input_hash(window, params, model, _matching(settings))
        last = session.scalars(
            select(ClusterRun)
            .where(ClusterRun.status == RunStatus.OK)
            .order_by(ClusterRun.id.desc())
        ).first()
        if last is not None and last.input_hash == digest:
            dormant = mark_dormant(session, now, settings)
            log.info(
                "window unchanged",
                extra={"run_id": last.id, "articles": len(window), "dormant": len(dormant)},
            )
            return ClusterReport(
                run_id=last.id,
                articles=len(window),
                clusters=last.cluster_count,
                noise=last.noise_count,
                stories_created=0,
                stories_changed=0,
                skipped=True,
                dormant=len(dormant),
                not_embedded=waiting,
            )

    vectors = (
        np.stack([article.vector for article in window])
        if window
        else np.zeros((0, 1), dtype=np.float32)
    )
    texts = [ArticleText(article.title, article.summary) for article in window]
    started = time.perf_counter()
    labels = cluster_vectors(vectors, params, texts)
    cluster_count = len(set(labels.tolist()) - {NOISE})
    log.info(
        "clustered window",
        extra={
            "window_start": window_start,
            "window_end": now,
            "articles": len(window),
            "clusters": cluster_count,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )

    with session_scope(engine) as session:
        run = ClusterRun(
            started_at=datetime.now(UTC),
            now=now,
            window_start=window_start,
            model=model,
            status=RunStatus.RUNNING,
            params={
                **params.model_dump(),
                **_matching(settings),
                "window_hours": settings.window_hours,
            },
            input_hash=digest,
        )
        session.add(run)
        session.flush()
        state = _load_state(session, window, labels, vectors, settings, window_start)
        created, changed = _write(
            session, run, window, state.current, plan_stories(state), params.lexical_full_body_chars
        )
        session.flush()
        dormant = mark_dormant(session, now, settings)
        run.status = RunStatus.OK
        run.finished_at = datetime.now(UTC)
        run.article_count = len(window)
        run.cluster_count = cluster_count
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


def _load_window(
    session: Session, model: str, start: datetime, end: datetime
) -> list[WindowArticle]:
    rows = session.execute(
        select(Article.id, Embedding.content_hash, Embedding.vector, Article.title, Article.summary)
        .join(Embedding, and_(Embedding.article_id == Article.id, Embedding.model == model))
        .where(Article.published_at >= start, Article.published_at <= end)
        .order_by(Article.published_at, Article.id)
    ).all()
    return [WindowArticle(row[0], row[1], row[2], row[3] or "", row[4] or "") for row in rows]


def _unembedded(session: Session, model: str, start: datetime, end: datetime) -> int:
    """Articles published in ``[start, end]`` with no embedding for ``model``."""
    embedded = select(Embedding.article_id).where(
        Embedding.article_id == Article.id, Embedding.model == model
    )
    return (
        session.scalar(
            select(func.count())
            .select_from(Article)
            .where(Article.published_at >= start, Article.published_at <= end, ~embedded.exists())
        )
        or 0
    )


def _models_with_vectors(session: Session) -> str:
    models = session.scalars(select(Embedding.model).distinct().order_by(Embedding.model)).all()
    return "embedded with: " + ", ".join(models) if models else "no article is embedded yet"


def _matching(settings: Settings) -> dict[str, float | None]:
    """The matching knobs, recorded with each run and part of its input hash."""
    return {
        "story_match_similarity": settings.story_match_similarity,
        "story_match_word_similarity": settings.story_match_word_similarity,
        "attach_similarity": settings.attach_similarity,
        "story_recent_windows": settings.story_recent_windows,
    }


def _input_hash(
    window: list[WindowArticle],
    params: ClusteringSettings,
    model: str,
    matching: dict[str, float | None],
) -> str:
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            {"params": params.model_dump(), "model": model, "match": matching},
            sort_keys=True,
        ).encode()
    )
    for article in window:
        digest.update(f"{article.id}:{article.content_hash};".encode())
    return digest.hexdigest()


def _load_state(
    session: Session,
    window: list[WindowArticle],
    labels: np.ndarray,
    vectors: FloatArray,
    settings: Settings,
    window_start: datetime,
) -> StoryState:
    """Everything ``plan_stories`` reads, read before anything is written."""
    ids = [article.id for article in window]
    chars = settings.clustering.lexical_full_body_chars
    current = (
        dict(
            session.execute(
                select(StoryArticle.article_id, StoryArticle.story_id).where(
                    StoryArticle.article_id.in_(ids)
                )
            ).all()
        )
        if ids
        else {}
    )
    centroids = {
        label: centroid(vectors[np.flatnonzero(labels == label)])
        for label in sorted(set(labels.tolist()) - {NOISE})
    }
    # Any live story, however old, may be continued; one not seen in the previous window
    # only if the word check tells a follow-up from a look-alike event. Older stories are
    # many (they never expire), so only those close to some cluster are loaded.
    recent = window_start - timedelta(
        hours=settings.window_hours * (settings.story_recent_windows - 1)
    )
    in_window = set(current.values())
    candidates: list[tuple[int, FloatArray | None, datetime]] = [
        (row[0], row[1], row[2])
        for row in session.execute(
            select(Story.id, Story.centroid, Story.last_seen)
            .where(
                or_(
                    Story.id.in_(in_window),
                    and_(Story.status.in_(LIVE), Story.last_seen >= recent),
                )
            )
            .order_by(Story.id)
        )
    ]
    older = _older_near(
        session,
        centroids,
        recent,
        in_window,
        settings.story_match_similarity - SIMILARITY_TOLERANCE,
    )
    candidates = sorted([*candidates, *older], key=lambda row: row[0])
    window_members: dict[int, set[int]] = defaultdict(set)
    for article_id, story_id in current.items():
        window_members[story_id].add(article_id)
    texts = _story_texts(session, [row[0] for row in older], chars)
    known = [
        KnownStory(
            story_id,
            center,
            frozenset(window_members.get(story_id, ())),
            recent=story_id in in_window or last_seen >= recent,
            text=texts.get(story_id, ""),
        )
        for story_id, center, last_seen in candidates
    ]
    return StoryState(
        article_ids=ids,
        labels=labels,
        vectors=vectors,
        current=current,
        known=known,
        older_near_lonely=_older_near_lonely(
            session,
            labels,
            vectors,
            known,
            recent,
            settings.attach_similarity,
            settings.clustering.lexical_full_body_chars,
        ),
        words=WordCheck(
            window=[article_text(a.title, a.summary, chars) for a in window],
            clusters={},
            min_similarity=settings.story_match_word_similarity,
        ),
        match_similarity=settings.story_match_similarity,
        attach_similarity=settings.attach_similarity,
        older_lonely=_older_lonely(session, labels, vectors, window_start, settings),
    )


def _older_near_lonely(
    session: Session,
    labels: np.ndarray,
    vectors: FloatArray,
    known: list[KnownStory],
    recent: datetime,
    attach_similarity: float | None,
    chars: int,
) -> list[KnownStory]:
    """Older live stories near some article no cluster took (noise), with their texts:
    the older stories a lone article may join (``story_plan``)."""
    lonely = np.flatnonzero(labels == NOISE)
    if lonely.shape[0] == 0 or attach_similarity is None:
        return []
    unit = normalise(vectors[lonely])
    exclude = {story.id for story in known if story.recent}
    older = _older_near(
        session, dict(enumerate(unit)), recent, exclude, attach_similarity - SIMILARITY_TOLERANCE
    )
    texts = _story_texts(session, [row[0] for row in older], chars)
    return [
        KnownStory(story_id, center, frozenset(), recent=False, text=texts.get(story_id, ""))
        for story_id, center, _ in older
    ]


def _older_lonely(
    session: Session,
    labels: np.ndarray,
    vectors: FloatArray,
    window_start: datetime,
    settings: Settings,
) -> list[LoneArticle]:
    """Articles published before the window that no story holds, at least
    ``attach_similarity`` (cosine) to some lone article of the window, with their texts:
    those a lone article may pair with (``plan._pair_lonely``).

    On PostgreSQL each lone article asks the HNSW index of article vectors (migration 0010,
    ``pipeline/vector_index.py``) for its ``NEAREST_ARTICLES`` nearest that pass the
    filters, walking on past those that do not (pgvector's iterative scan); elsewhere the
    older articles of the model are scanned in batches, memory bounded and time linear in
    their number. Only the close ones' texts are read.
    """
    least = settings.attach_similarity
    lonely = np.flatnonzero(labels == NOISE)
    if lonely.shape[0] == 0 or least is None:
        return []
    unit = normalise(vectors[lonely]).astype(np.float64)
    in_story = select(StoryArticle.article_id).where(
        StoryArticle.article_id == Embedding.article_id
    )
    conditions = (
        Embedding.model == settings.model_name,
        of_dimension(Embedding.vector, unit.shape[1]),
        Article.published_at < window_start,
        ~in_story.exists(),
    )
    older = select(Embedding.article_id, Embedding.vector).join(
        Article, Article.id == Embedding.article_id
    )
    close: dict[int, FloatArray] = {}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        nearest: dict[int, FloatArray] = {}
        for wanted in unit:
            distance = cosine_distance(Embedding.vector, wanted.astype(np.float32))
            query = older.add_columns(distance).where(*conditions).order_by(distance)
            nearest.update(
                (article_id, vector)
                for article_id, vector, apart in session.execute(query.limit(NEAREST_ARTICLES))
                if 1.0 - apart >= least - 2 * SIMILARITY_TOLERANCE
            )
        if nearest:
            close = _close_to_any(unit, list(nearest), list(nearest.values()), least)
    else:
        query = older.where(*conditions).order_by(Embedding.article_id)
        for batch in session.execute(query.execution_options(yield_per=SCAN_BATCH)).partitions():
            close.update(
                _close_to_any(unit, [row[0] for row in batch], [row[1] for row in batch], least)
            )
    if not close:
        return []
    chars = settings.clustering.lexical_full_body_chars
    texts = {
        row[0]: article_text(row[1] or "", row[2] or "", chars)
        for row in session.execute(
            select(Article.id, Article.title, Article.summary).where(Article.id.in_(sorted(close)))
        )
    }
    return [
        LoneArticle(article_id, close[article_id], texts[article_id])
        for article_id in sorted(close)
    ]


def _close_to_any(
    unit: npt.NDArray[np.float64], ids: list[int], vectors: list[FloatArray], least: float
) -> dict[int, FloatArray]:
    """Of these vectors (by id), at unit length, those whose cosine to some row of ``unit``
    is at least ``least``, numpy deciding (a database's float32 distance may differ by a
    rounding error: ``SIMILARITY_TOLERANCE``)."""
    matrix = normalise(np.stack(vectors))
    best = (unit @ matrix.astype(np.float64).T).max(axis=0)
    return {
        ids[int(column)]: matrix[int(column)]
        for column in np.flatnonzero(best >= least - SIMILARITY_TOLERANCE)
    }


def _write(
    session: Session,
    run: ClusterRun,
    window: list[WindowArticle],
    current: Mapping[int, int],
    plan: StoryPlan,
    chars: int,
) -> tuple[int, int]:
    """Write the plan: new stories, memberships, story rows, events, keywords; returns
    (created, changed)."""
    real = {PLANNED + index: _new_story(session, run) for index in range(plan.new_stories)}
    target = {
        article_id: real.get(story_id, story_id) if story_id is not None else None
        for article_id, story_id in plan.target.items()
    }
    touched: set[int] = set()
    moved_to: dict[int, set[int]] = defaultdict(set)
    # The window's articles, then the older lone articles a pair took (they had no story).
    in_window = [article.id for article in window]
    older = sorted(set(target) - set(in_window))
    for article_id in in_window + older:
        before, after = current.get(article_id), target[article_id]
        if before == after:
            continue
        if before is not None:
            touched.add(before)
            if after is not None:
                moved_to[before].add(after)
        if after is not None:
            touched.add(after)
        if before is None:
            session.add(
                StoryArticle(article_id=article_id, story_id=after, since=run.now, run_id=run.id)
            )
        elif after is None:
            session.execute(delete(StoryArticle).where(StoryArticle.article_id == article_id))
        else:
            membership = session.get_one(StoryArticle, article_id)
            membership.story_id = after
            membership.since = run.now
            membership.run_id = run.id
    session.flush()
    stories = {story_id: session.get_one(Story, story_id) for story_id in sorted(touched)}
    counts_before = {story_id: story.article_count for story_id, story in stories.items()}
    dormant_before = {
        story_id for story_id, story in stories.items() if story.status == StoryStatus.DORMANT
    }
    for story in stories.values():
        _refresh_story(session, story, run, bool(moved_to[story.id]))
    _record_events(
        session,
        run,
        membership_events(
            before=dict(current),
            after=target,
            created={
                story_id for story_id in stories if stories[story_id].created_run_id == run.id
            },
            counts_before=counts_before,
            counts_after={story_id: story.article_count for story_id, story in stories.items()},
            dormant_before=dormant_before,
        ),
        stories,
    )
    _refresh_keywords(window, target, stories, chars)
    return len(real), len(touched)


NEAREST_STORIES = 20
"""Older stories a cluster asks the centroid index for on PostgreSQL."""
NEAREST_ARTICLES = 20
"""Older lone articles a lone article asks the index of article vectors for on PostgreSQL."""
HNSW_EF_SEARCH = 100
"""Candidates the HNSW index keeps while searching (pgvector's hnsw.ef_search)."""
SCAN_BATCH = 5000
"""Older stories scanned at once elsewhere."""


def _older_near(
    session: Session,
    centroids: dict[int, FloatArray],
    before: datetime,
    exclude: set[int],
    min_similarity: float,
) -> list[tuple[int, FloatArray, datetime]]:
    """Live stories last seen before ``before`` whose centroid is at least ``min_similarity``
    (cosine) to one of ``centroids`` (clusters' or lone articles'): the only older stories
    these can continue or join.

    Only stories whose centroid has the dimension of ``centroids`` (all of one model, the
    window's) are read: a centroid of another length was made by another model, and no
    cosine between the two means anything. On PostgreSQL each centroid asks the HNSW index
    of that dimension (``pipeline/vector_index.py``, migration 0009) for its
    ``NEAREST_STORIES`` nearest (the planner takes the index once the table's statistics are
    current: autovacuum, or the maintenance DAG's ANALYZE); elsewhere the stories are
    scanned in batches, memory bounded and time linear in the number of live stories.
    """
    if not centroids:
        return []
    clusters = np.stack(list(centroids.values())).astype(np.float64)
    conditions = (
        Story.status.in_(LIVE),
        Story.last_seen < before,
        Story.centroid.is_not(None),
        of_dimension(Story.centroid, clusters.shape[1]),
    )
    query = select(Story.id, Story.centroid, Story.last_seen).where(*conditions)
    rows: list[tuple[int, FloatArray | None, datetime]] = []
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Ids and distances first: most nearest stories are not close enough, and a
        # centroid costs more to read than its distance (measured: 3.7 vs 6.2 ms a query).
        close: set[int] = set()
        # The index search keeps ef_search candidates (pgvector's default 40): at 100,000
        # stories it missed a quarter of the close ones (bench.older); 100 costs ~25 % more.
        session.execute(text(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}"))
        for wanted in centroids.values():
            distance = cosine_distance(Story.centroid, wanted)
            nearest = (
                select(Story.id, distance)
                .where(*conditions)
                .order_by(distance)
                .limit(NEAREST_STORIES)
            )
            close.update(
                story_id
                for story_id, apart in session.execute(nearest)
                if 1.0 - apart >= min_similarity - SIMILARITY_TOLERANCE and story_id not in exclude
            )
        if close:
            found_rows = session.execute(query.where(Story.id.in_(sorted(close))))
            rows.extend((row[0], row[1], row[2]) for row in found_rows)
    else:
        for batch in session.execute(query.execution_options(yield_per=SCAN_BATCH)).partitions():
            rows.extend((row[0], row[1], row[2]) for row in batch)
    found: dict[int, tuple[int, FloatArray, datetime]] = {}
    for story_id, center, last_seen in rows:
        if story_id in exclude or story_id in found or center is None:
            continue
        if float((clusters @ center.astype(np.float64)).max()) >= min_similarity:
            found[story_id] = (story_id, center, last_seen)
    return [found[story_id] for story_id in sorted(found)]


def _story_texts(session: Session, story_ids: list[int], chars: int) -> dict[int, str]:
    """Each story's latest ``WORD_CHECK_ARTICLES`` titles and summaries, joined."""
    if not story_ids:
        return {}
    texts: dict[int, list[str]] = defaultdict(list)
    rows = session.execute(
        select(StoryArticle.story_id, Article.title, Article.summary)
        .join(Article, Article.id == StoryArticle.article_id)
        .where(StoryArticle.story_id.in_(story_ids))
        .order_by(StoryArticle.story_id, Article.published_at.desc(), Article.id.desc())
    ).all()
    for story_id, title, summary in rows:
        if len(texts[story_id]) < WORD_CHECK_ARTICLES:
            texts[story_id].append(article_text(title or "", summary or "", chars))
    return {story_id: " ".join(parts) for story_id, parts in texts.items()}


def _record_events(
    session: Session, run: ClusterRun, events: list[HistoryEvent], stories: dict[int, Story]
) -> None:
    for event in events:
        story = stories[event.story_id]
        if event.kind == EventKind.MERGED:
            story.merged_into_id = event.other_story_id
        session.add(_event(story, event.kind, run.now, run.id, event.other_story_id))


def _event(
    story: Story, kind: EventKind, at: datetime, run_id: int | None, other: int | None
) -> StoryEvent:
    return StoryEvent(
        story_id=story.id,
        run_id=run_id,
        at=at,
        kind=kind,
        other_story_id=other,
        article_count=story.article_count,
    )


def _refresh_keywords(
    window: list[WindowArticle],
    target: dict[int, int | None],
    stories: dict[int, Story],
    chars: int,
) -> None:
    """Keywords of the changed stories, against every story of the window (c-TF-IDF)."""
    texts: dict[int, list[str]] = defaultdict(list)
    for article in window:
        story_id = target[article.id]
        if story_id is not None:
            # The headline twice: it names the story; the lead adds what the headline lacks.
            texts[story_id] += [article.title, article_text(article.title, article.summary, chars)]
    keywords = story_keywords(texts, top_n=KEYWORDS)
    for story_id, story in stories.items():
        if story_id in keywords and story.status == StoryStatus.ACTIVE:
            story.keywords = keywords[story_id]


def mark_dormant(session: Session, now: datetime, settings: Settings) -> list[int]:
    """Active stories with no article for ``dormant_after_hours`` go dormant, with an event.

    Run on every clustering, even one skipped for an unchanged window, since time alone
    makes a story dormant. Idempotent: a dormant story is not marked again.
    """
    cutoff = now - timedelta(hours=settings.dormant_after_hours)
    stale = list(
        session.scalars(
            select(Story)
            .where(Story.status == StoryStatus.ACTIVE, Story.last_seen < cutoff)
            .order_by(Story.id)
        )
    )
    for story in stale:
        story.status = StoryStatus.DORMANT
        story.updated_at = now
        session.add(_event(story, EventKind.DORMANT, now, None, None))
    return [story.id for story in stale]


def _new_story(session: Session, run: ClusterRun) -> int:
    """An empty story row; ``_refresh_story`` fills it once its members are written."""
    story = Story(
        title="",
        article_count=0,
        source_count=0,
        original_count=0,
        first_seen=run.now,
        last_seen=run.now,
        model=run.model,
        status=StoryStatus.ACTIVE,
        created_at=run.now,
        updated_at=run.now,
        created_run_id=run.id,
        updated_run_id=run.id,
    )
    session.add(story)
    session.flush()
    return story.id


def _refresh_story(session: Session, story: Story, run: ClusterRun, gave_articles: bool) -> None:
    """Recompute a story's title, counts, time span and centroid from its members.

    A story left with no articles is ``merged`` if its articles went to another story,
    else ``dissolved`` (they became noise). A story made under another model that this run
    continues is the run's model's from now on: its members are read by their vectors of
    that model (the embed stage gives every article one).
    """
    story.model = run.model
    rows = session.execute(
        select(
            Article.id,
            Article.title,
            Article.published_at,
            Article.duplicate_of_id,
            Feed.outlet,
            Embedding.vector,
        )
        .join(StoryArticle, StoryArticle.article_id == Article.id)
        .join(Feed, Feed.id == Article.feed_id)
        .join(Embedding, and_(Embedding.article_id == Article.id, Embedding.model == story.model))
        .where(StoryArticle.story_id == story.id)
        .order_by(Article.published_at, Article.id)
    ).all()
    story.updated_at = run.now
    story.updated_run_id = run.id
    if not rows:
        story.status = StoryStatus.MERGED if gave_articles else StoryStatus.DISSOLVED
        story.article_count = 0
        story.source_count = 0
        story.original_count = 0
        session.execute(delete(StoryHour).where(StoryHour.story_id == story.id))
        return
    vectors = np.stack([row.vector for row in rows])
    center = centroid(vectors)
    closeness = vectors @ center
    headlines = [i for i, row in enumerate(rows) if informative_title(row.title)]
    # The most central member's title, among those that are headlines (not a date or a
    # section label), if any is.
    central = max(headlines or range(len(rows)), key=lambda i: (closeness[i], -i))
    story.title = rows[central].title
    story.centroid = center
    story.article_count = len(rows)
    story.source_count = len({row.outlet for row in rows})
    story.original_count = sum(1 for row in rows if row.duplicate_of_id is None)
    story.first_seen = rows[0].published_at
    story.last_seen = rows[-1].published_at
    story.status = StoryStatus.ACTIVE
    story.merged_into_id = None
    _refresh_timeline(session, story.id, [(row.published_at, row.outlet) for row in rows])


def _refresh_timeline(session: Session, story_id: int, members: list[tuple[datetime, str]]) -> None:
    """Articles and distinct outlets per hour of publication."""
    hours: dict[datetime, set[str]] = defaultdict(set)
    counts: dict[datetime, int] = defaultdict(int)
    for published, outlet in members:
        hour = published.replace(minute=0, second=0, microsecond=0)
        hours[hour].add(outlet)
        counts[hour] += 1
    session.execute(delete(StoryHour).where(StoryHour.story_id == story_id))
    session.add_all(
        StoryHour(
            story_id=story_id, hour=hour, article_count=counts[hour], outlet_count=len(outlets)
        )
        for hour, outlets in sorted(hours.items())
    )

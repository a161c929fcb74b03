"""Reading stories back: the filtered, ranked, paged summaries that ``storyline stories`` and
the HTTP API both list, one story's details, its nearest stories by centroid, the trending
stories."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from sqlalchemy import ColumnElement, Float, Select, String, case, cast, exists, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from models import Article, ClusterRun, Feed, Story, StoryArticle, StoryEvent, StoryHour
from pipeline.db import SQLITE_ANY_CONTAINS, fold, folded
from pipeline.stories.history import EventKind
from pipeline.stories.status import RunStatus, StoryStatus

StoryOrder = Literal["rank", "recent", "size"]
DEFAULT_STATUSES: tuple[StoryStatus, ...] = (StoryStatus.ACTIVE, StoryStatus.DORMANT)
RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class StoryQuery:
    """Which stories to list, in what order, and which page of them."""

    statuses: tuple[StoryStatus, ...] = DEFAULT_STATUSES
    since: datetime | None = None
    """Stories still seen at or after this (``last_seen >= since``)."""
    until: datetime | None = None
    """Stories already seen at or before this (``first_seen <= until``)."""
    outlet: str | None = None
    """Stories with at least one article from this outlet (exact name)."""
    text: str | None = None
    """Case-insensitive substring of the title or of one keyword."""
    order: StoryOrder = "rank"
    limit: int | None = 20
    """None: every story that matches (the command line's default)."""
    offset: int = 0


@dataclass(frozen=True)
class StorySummary:
    id: int
    title: str
    keywords: list[str]
    status: str
    articles: int
    outlets: int
    first_seen: datetime
    last_seen: datetime
    articles_last_24h: int
    merged_into_id: int | None


@dataclass(frozen=True)
class StoryPage:
    total: int
    items: list[StorySummary]


@dataclass(frozen=True)
class ArticleRow:
    id: int
    title: str
    url: str | None
    outlet: str
    published_at: datetime
    duplicate_of: int | None


ARTICLE_COLUMNS = (
    Article.id,
    Article.title,
    Article.url,
    Feed.outlet,
    Article.published_at,
    Article.duplicate_of_id,
)
"""An ``ArticleRow``'s columns, in its order (with ``Feed`` joined)."""


@dataclass(frozen=True)
class OutletRow:
    outlet: str
    articles: int
    first_article_at: datetime


@dataclass(frozen=True)
class HourRow:
    hour: datetime
    articles: int
    outlets: int


@dataclass(frozen=True)
class EventRow:
    at: datetime
    kind: str
    other_story_id: int | None


@dataclass(frozen=True)
class StoryRef:
    id: int
    title: str


@dataclass(frozen=True)
class StoryDetail:
    summary: StorySummary
    articles: list[ArticleRow] = field(default_factory=list)
    """One page of them, newest first."""
    article_total: int = 0
    """All of the story's articles, not only the page's."""
    outlets: list[OutletRow] = field(default_factory=list)
    """The first to publish first."""
    timeline: list[HourRow] = field(default_factory=list)
    history: list[EventRow] = field(default_factory=list)
    merged_from: list[StoryRef] = field(default_factory=list)
    split_from: list[StoryRef] = field(default_factory=list)
    split_into: list[StoryRef] = field(default_factory=list)


@dataclass(frozen=True)
class Related:
    summary: StorySummary
    similarity: float


@dataclass(frozen=True)
class Trending:
    summary: StorySummary
    rank: int
    recent_articles: int
    earlier_articles: int
    earlier_rate: float
    growth: float


@dataclass(frozen=True)
class PipelineClock:
    """The newest successful cluster run: when it finished, and the "now" it clustered at."""

    finished_at: datetime | None
    now: datetime | None

    def at(self, wall_clock: datetime) -> datetime:
        """What "now" means for recency: the run's clock, else the wall clock (as the
        ``pipeline_clock`` view), so a replayed or paused pipeline reads as of its last run."""
        return self.now if self.now is not None else wall_clock


def pipeline_clock(session: Session) -> PipelineClock:
    row = session.execute(
        select(ClusterRun.finished_at, ClusterRun.now)
        .where(ClusterRun.status == RunStatus.OK)
        .order_by(ClusterRun.now.desc(), ClusterRun.id.desc())
        .limit(1)
    ).first()
    return PipelineClock(None, None) if row is None else PipelineClock(row[0], row[1])


def story_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Story)) or 0


def list_stories(session: Session, query: StoryQuery, now: datetime) -> StoryPage:
    """One page of story summaries and how many match; "last 24 h" ends at ``now``."""
    conditions = _conditions(session, query)
    total = session.scalar(select(func.count()).select_from(Story).where(*conditions)) or 0
    statement = _summaries(now).where(*conditions).limit(query.limit).offset(query.offset or None)
    recent = statement.selected_columns.articles_last_24h
    orders: dict[str, list[Any]] = {
        "rank": [
            recent.desc(),
            Story.source_count.desc(),
            Story.article_count.desc(),
            Story.last_seen.desc(),
        ],
        "recent": [Story.last_seen.desc()],
        "size": [Story.article_count.desc(), Story.last_seen.desc()],
    }
    rows = session.execute(statement.order_by(*orders[query.order], Story.id)).all()
    return StoryPage(total=total, items=[_summary(row) for row in rows])


def story_detail(
    session: Session,
    story_id: int,
    now: datetime,
    article_limit: int | None = None,
    article_offset: int = 0,
) -> StoryDetail | None:
    """One story with a page of its articles (all by default), every outlet, its hourly
    timeline and its lineage; None if unknown."""
    row = session.execute(_summaries(now).where(Story.id == story_id)).first()
    if row is None:
        return None
    members = (
        select(*ARTICLE_COLUMNS)
        .join(StoryArticle, StoryArticle.article_id == Article.id)
        .join(Feed, Feed.id == Article.feed_id)
        .where(StoryArticle.story_id == story_id)
    )
    page = (
        members.order_by(Article.published_at.desc(), Article.id.desc())
        .limit(article_limit)
        .offset(article_offset or None)
    )
    articles = [ArticleRow(*r) for r in session.execute(page)]
    sources = members.subquery("members")
    outlets = [
        OutletRow(outlet, int(count), first)
        for outlet, count, first in session.execute(
            select(sources.c.outlet, func.count(), func.min(sources.c.published_at))
            .group_by(sources.c.outlet)
            .order_by(func.min(sources.c.published_at), sources.c.outlet)
        )
    ]
    timeline = [
        HourRow(*r)
        for r in session.execute(
            select(StoryHour.hour, StoryHour.article_count, StoryHour.outlet_count)
            .where(StoryHour.story_id == story_id)
            .order_by(StoryHour.hour)
        )
    ]
    history = [
        EventRow(*r)
        for r in session.execute(
            select(StoryEvent.at, StoryEvent.kind, StoryEvent.other_story_id)
            .where(StoryEvent.story_id == story_id)
            .order_by(StoryEvent.at, StoryEvent.id)
        )
    ]
    return StoryDetail(
        summary=_summary(row),
        articles=articles,
        article_total=sum(outlet.articles for outlet in outlets),
        outlets=outlets,
        timeline=timeline,
        history=history,
        merged_from=_refs(session, Story.merged_into_id == story_id),
        split_from=_refs(
            session,
            exists()
            .where(StoryEvent.story_id == story_id)
            .where(StoryEvent.kind == EventKind.SPLIT)
            .where(StoryEvent.other_story_id == Story.id),
        ),
        split_into=_refs(
            session,
            exists()
            .where(StoryEvent.story_id == Story.id)
            .where(StoryEvent.kind == EventKind.SPLIT)
            .where(StoryEvent.other_story_id == story_id),
        ),
    )


def _refs(session: Session, condition: ColumnElement[bool]) -> list[StoryRef]:
    """The stories meeting ``condition``, by id."""
    rows = session.execute(select(Story.id, Story.title).where(condition).order_by(Story.id))
    return [StoryRef(story_id, title) for story_id, title in rows]


HNSW_EF_SEARCH = 100
"""Candidates pgvector's HNSW search keeps (``hnsw.ef_search``; its default is 40)."""
SCAN_BATCH = 5000
"""Centroids compared at once on SQLite: memory stays bounded (5,000 of 384 float32 is 7 MB)."""


def related_stories(
    session: Session,
    story_id: int,
    now: datetime,
    limit: int,
    statuses: tuple[StoryStatus, ...] = DEFAULT_STATUSES,
) -> list[Related] | None:
    """The ``limit`` stories of ``statuses`` whose centroids are nearest (cosine) to this
    story's, nearest first, without itself; None if the story is unknown, and none when it
    has no centroid.

    PostgreSQL asks the HNSW index on ``stories.centroid`` (migration 0005) with pgvector's
    ``<=>``, in iterative strict-order scans so that the status filter still fills the page;
    SQLite scans the centroids in batches of ``SCAN_BATCH`` with numpy.
    """
    found = session.execute(select(Story.centroid).where(Story.id == story_id)).first()
    if found is None:
        return None
    target = found[0]
    if target is None:
        return []
    conditions = (Story.status.in_(statuses), Story.id != story_id, Story.centroid.is_not(None))
    nearest: list[tuple[int, float]]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, limit)}"))
        session.execute(text("SET LOCAL hnsw.iterative_scan = strict_order"))
        distance = Story.centroid.op("<=>", return_type=Float)(target)
        rows = session.execute(
            select(Story.id, distance).where(*conditions).order_by(distance, Story.id).limit(limit)
        )
        nearest = [(found_id, 1.0 - float(apart)) for found_id, apart in rows]
    else:
        nearest = _scan_nearest(session, target, conditions, limit)
    if not nearest:
        return []
    summaries = {
        summary.id: summary
        for summary in map(
            _summary,
            session.execute(_summaries(now).where(Story.id.in_([i for i, _ in nearest]))),
        )
    }
    return [Related(summaries[i], similarity) for i, similarity in nearest if i in summaries]


def _scan_nearest(
    session: Session,
    target: np.ndarray,
    conditions: tuple[ColumnElement[bool], ...],
    limit: int,
) -> list[tuple[int, float]]:
    """The ``limit`` most cosine-similar centroids, scanned in batches: (id, similarity)."""
    wanted = target.astype(np.float64)
    wanted /= np.linalg.norm(wanted) or 1.0
    best: list[tuple[float, int]] = []  # a min-heap of (similarity, -id): the worst on top
    query = select(Story.id, Story.centroid).where(*conditions)
    for batch in session.execute(query.execution_options(yield_per=SCAN_BATCH)).partitions():
        centroids = np.stack([np.asarray(row[1]) for row in batch]).astype(np.float64)
        norms = np.linalg.norm(centroids, axis=1)
        similarities = centroids @ wanted / np.where(norms == 0, 1.0, norms)
        for row, similarity in zip(batch, similarities.tolist(), strict=True):
            entry = (similarity, -row[0])
            if len(best) < limit:
                heapq.heappush(best, entry)
            elif entry > best[0]:
                heapq.heapreplace(best, entry)
    return [(-negative, similarity) for similarity, negative in sorted(best, reverse=True)]


TRENDING_EARLIER = timedelta(hours=48)
"""The earlier stretch a story's recent hours are compared with (the ``trending_stories``
view's ``articles_previous_48h``)."""


def trending_stories(
    session: Session, now: datetime, hours: int = 6, limit: int | None = None
) -> list[Trending]:
    """Active stories with articles in the last ``hours`` up to ``now``, by growth against
    their own pace in the 48 hours before: (recent + 1) / (earlier * hours / 48 + 1).

    The ``trending_stories`` view (migrations 0006 and 0008) at 6 hours, computed here
    for both backends from ``story_hours``: the same hours, sums, formula (in exact
    fractions, rounded half up to two decimals as its ``numeric``) and order (growth, then
    recent articles, then id)."""
    recent_start = now - timedelta(hours=hours)
    hour = StoryHour.hour
    counts = (
        select(
            StoryHour.story_id,
            func.sum(case((hour > recent_start, StoryHour.article_count), else_=0)),
            func.sum(case((hour <= recent_start, StoryHour.article_count), else_=0)),
        )
        .join(Story, Story.id == StoryHour.story_id)
        .where(hour > recent_start - TRENDING_EARLIER, hour <= now)
        .where(Story.status == StoryStatus.ACTIVE)
        .group_by(StoryHour.story_id)
    )
    scored: list[tuple[Fraction, int, int, int]] = []
    periods = Fraction(int(TRENDING_EARLIER.total_seconds()), hours * 3600)
    for story_id, recent, earlier in session.execute(counts):
        recent, earlier = int(recent or 0), int(earlier or 0)
        if recent > 0:
            growth = (recent + 1) / (Fraction(earlier) / periods + 1)
            scored.append((growth, recent, earlier, story_id))
    scored.sort(key=lambda s: (-s[0], -s[1], s[3]))
    if limit is not None:
        scored = scored[:limit]
    if not scored:
        return []
    summaries = {
        summary.id: summary
        for summary in map(
            _summary,
            session.execute(_summaries(now).where(Story.id.in_([s[3] for s in scored]))),
        )
    }
    return [
        Trending(
            summary=summaries[story_id],
            rank=rank,
            recent_articles=recent,
            earlier_articles=earlier,
            earlier_rate=round(float(earlier / periods), 4),
            growth=float(_two_decimals(growth)),
        )
        for rank, (growth, recent, earlier, story_id) in enumerate(scored, start=1)
    ]


def _two_decimals(value: Fraction) -> Decimal:
    """PostgreSQL's ``round(numeric, 2)``: half away from zero."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _summaries(now: datetime) -> Select[*tuple[Any, ...]]:
    """Story columns with the articles published in the 24 hours up to ``now``.

    The count is grouped over the recent articles only (an index range on
    ``published_at``), then joined: it never scans every story's membership."""
    recent = (
        select(StoryArticle.story_id, func.count().label("n"))
        .join(Article, Article.id == StoryArticle.article_id)
        .where(Article.published_at > now - RECENT, Article.published_at <= now)
        .group_by(StoryArticle.story_id)
        .subquery("recent")
    )
    return select(
        Story.id,
        Story.title,
        Story.keywords,
        Story.status,
        Story.article_count,
        Story.source_count,
        Story.first_seen,
        Story.last_seen,
        func.coalesce(recent.c.n, 0).label("articles_last_24h"),
        Story.merged_into_id,
    ).outerjoin(recent, recent.c.story_id == Story.id)


def _summary(row: Any) -> StorySummary:
    return StorySummary(
        id=row[0],
        title=row[1],
        keywords=list(row[2] or []),
        status=row[3],
        articles=row[4],
        outlets=row[5],
        first_seen=row[6],
        last_seen=row[7],
        articles_last_24h=int(row[8]),
        merged_into_id=row[9],
    )


def _conditions(session: Session, query: StoryQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Story.status.in_(query.statuses)]
    if query.since is not None:
        conditions.append(Story.last_seen >= query.since)
    if query.until is not None:
        conditions.append(Story.first_seen <= query.until)
    if query.outlet is not None:
        conditions.append(
            exists()
            .where(StoryArticle.story_id == Story.id)
            .where(Article.id == StoryArticle.article_id)
            .where(Feed.id == Article.feed_id)
            .where(Feed.outlet == query.outlet)
        )
    if query.text:
        pattern = fold(query.text)
        in_keywords = _keyword_contains(session.get_bind().dialect.name, pattern)
        if pattern.isascii() and pattern.isprintable() and not {'"', "\\"} & set(pattern):
            # Such a pattern reads the same inside the list's JSON text: a cheap LIKE on the
            # text leaves the element-by-element match only the stories that might match.
            # (CASE, not AND: the planner may otherwise run the subquery first.)
            keywords_text = folded(cast(Story.keywords, String))
            in_keywords = case(
                (keywords_text.contains(pattern, autoescape=True), in_keywords), else_=False
            )
        conditions.append(folded(Story.title).contains(pattern, autoescape=True) | in_keywords)
    return conditions


def _keyword_contains(dialect: str, pattern: str) -> ColumnElement[bool]:
    """One of the story's keywords contains ``pattern`` (lower case): each element of the
    JSON list is matched, not the list's text, so quotes and commas never match. SQLite
    does it in one Python call per story (``db.any_element_contains``)."""
    if dialect != "postgresql":
        contains: ColumnElement[int] = getattr(func, SQLITE_ANY_CONTAINS)(Story.keywords, pattern)
        return contains == 1
    elements = func.jsonb_array_elements_text(cast(Story.keywords, JSONB))
    keyword = elements.table_valued("value").alias("keyword")
    return (
        select(keyword.c.value)
        .where(folded(cast(keyword.c.value, String)).contains(pattern, autoescape=True))
        .exists()
    )


@dataclass(frozen=True)
class OutletSummary:
    outlet: str
    feeds: int
    articles: int
    stories: int
    last_article_at: datetime | None


def outlets(session: Session) -> list[OutletSummary]:
    """Every outlet of the feed registry by name, with its feeds, articles, live stories
    (``DEFAULT_STATUSES``) and newest article: what the dashboard's outlet filter offers."""
    feeds = dict(
        session.execute(select(Feed.outlet, func.count(Feed.id)).group_by(Feed.outlet)).all()
    )
    articles = {
        outlet: (int(count), last)
        for outlet, count, last in session.execute(
            select(Feed.outlet, func.count(Article.id), func.max(Article.published_at))
            .join(Article, Article.feed_id == Feed.id)
            .group_by(Feed.outlet)
        )
    }
    stories = dict(
        session.execute(
            select(Feed.outlet, func.count(func.distinct(StoryArticle.story_id)))
            .join(Article, Article.feed_id == Feed.id)
            .join(StoryArticle, StoryArticle.article_id == Article.id)
            .join(Story, Story.id == StoryArticle.story_id)
            .where(Story.status.in_(DEFAULT_STATUSES))
            .group_by(Feed.outlet)
        ).all()
    )
    return [
        OutletSummary(
            outlet,
            int(feeds[outlet]),
            articles.get(outlet, (0, None))[0],
            int(stories.get(outlet, 0)),
            articles.get(outlet, (0, None))[1],
        )
        for outlet in sorted(feeds)
    ]

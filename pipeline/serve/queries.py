"""Reading stories back: the current stories with their articles, for the CLI, and the
filtered, paged summaries and per-story details the HTTP API serves."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, String, case, cast, exists, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from models import Article, ClusterRun, Feed, Story, StoryArticle, StoryEvent, StoryHour
from pipeline.db import SQLITE_ANY_CONTAINS, fold, folded
from pipeline.stories.status import RunStatus, StoryStatus

StoryOrder = Literal["rank", "recent", "size"]
DEFAULT_STATUSES: tuple[StoryStatus, ...] = (StoryStatus.ACTIVE, StoryStatus.DORMANT)
RECENT = timedelta(hours=24)


@dataclass(frozen=True)
class StoryArticleView:
    id: int
    title: str
    url: str | None
    outlet: str
    published: datetime
    duplicate_of: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "outlet": self.outlet,
            "published": self.published.isoformat(),
            "duplicate_of": self.duplicate_of,
        }


@dataclass(frozen=True)
class StoryView:
    id: int
    title: str
    status: str
    keywords: list[str]
    article_count: int
    source_count: int
    original_count: int
    first_seen: datetime
    last_seen: datetime
    articles: list[StoryArticleView]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "keywords": self.keywords,
            "article_count": self.article_count,
            "source_count": self.source_count,
            "original_count": self.original_count,
            "outlets": sorted({article.outlet for article in self.articles}),
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "articles": [article.as_json() for article in self.articles],
        }


def current_stories(
    session: Session,
    limit: int | None = None,
    statuses: tuple[StoryStatus, ...] = DEFAULT_STATUSES,
) -> list[StoryView]:
    """Stories of ``statuses`` (active and dormant by default), active first, then biggest
    by distinct outlets then articles, newest first on ties."""
    query = (
        select(Story)
        .where(Story.status.in_(statuses))
        .order_by(
            (Story.status != StoryStatus.ACTIVE),
            Story.source_count.desc(),
            Story.article_count.desc(),
            Story.last_seen.desc(),
            Story.id,
        )
    )
    if limit is not None:
        query = query.limit(limit)
    stories = list(session.scalars(query))
    by_story: dict[int, list[StoryArticleView]] = defaultdict(list)
    if stories:
        rows = session.execute(
            select(
                StoryArticle.story_id,
                Article.id,
                Article.title,
                Article.url,
                Feed.outlet,
                Article.published_at,
                Article.duplicate_of_id,
            )
            .join(Article, Article.id == StoryArticle.article_id)
            .join(Feed, Feed.id == Article.feed_id)
            .where(StoryArticle.story_id.in_([story.id for story in stories]))
            .order_by(Article.published_at, Article.id)
        ).all()
        for story_id, article_id, title, url, outlet, published, duplicate_of in rows:
            by_story[story_id].append(
                StoryArticleView(article_id, title, url, outlet, published, duplicate_of)
            )
    return [
        StoryView(
            id=story.id,
            title=story.title,
            status=story.status,
            keywords=list(story.keywords or []),
            article_count=story.article_count,
            source_count=story.source_count,
            original_count=story.original_count,
            first_seen=story.first_seen,
            last_seen=story.last_seen,
            articles=by_story[story.id],
        )
        for story in stories
    ]


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
    limit: int = 20
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
class StoryDetail:
    summary: StorySummary
    articles: list[ArticleRow] = field(default_factory=list)
    """Newest first."""
    outlets: list[OutletRow] = field(default_factory=list)
    """The first to publish first."""
    timeline: list[HourRow] = field(default_factory=list)
    history: list[EventRow] = field(default_factory=list)


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
    statement = _summaries(now).where(*conditions).limit(query.limit).offset(query.offset)
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


def story_detail(session: Session, story_id: int, now: datetime) -> StoryDetail | None:
    """One story with its articles, outlets, hourly timeline and lineage; None if unknown."""
    row = session.execute(_summaries(now).where(Story.id == story_id)).first()
    if row is None:
        return None
    articles = [
        ArticleRow(*r)
        for r in session.execute(
            select(
                Article.id,
                Article.title,
                Article.url,
                Feed.outlet,
                Article.published_at,
                Article.duplicate_of_id,
            )
            .join(StoryArticle, StoryArticle.article_id == Article.id)
            .join(Feed, Feed.id == Article.feed_id)
            .where(StoryArticle.story_id == story_id)
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
    ]
    first: dict[str, datetime] = {}
    counts: dict[str, int] = defaultdict(int)
    for article in articles:  # newest first: the last one seen is the outlet's first
        first[article.outlet] = article.published_at
        counts[article.outlet] += 1
    outlets = sorted(
        (OutletRow(name, counts[name], at) for name, at in first.items()),
        key=lambda o: (o.first_article_at, o.outlet),
    )
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
    return StoryDetail(_summary(row), articles, outlets, timeline, history)


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

"""Reading stories back: the filtered, ranked, paged summaries that ``storyline stories`` and
the HTTP API both list, one story's details, its nearest stories by centroid, the trending
stories; and the articles, in a story or in none, that ``storyline articles`` and
``GET /api/articles`` both list.

The rows are ``pipeline.serve.schema``'s models, built here from the database's columns:
what the API answers and the CLI prints is what these return, with no second set of types.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    case,
    cast,
    exists,
    false,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, Session

from models import (
    Article,
    ClusterRun,
    Feed,
    Story,
    StoryArticle,
    StoryEvent,
    StoryHour,
    StorySentence,
)
from pipeline.db import SQLITE_ANY_CONTAINS, fold, folded
from pipeline.search import article_matches, outlet_feeds, story_articles_match
from pipeline.serve.entities import names_entity, top_entities
from pipeline.serve.schema import (
    ArticleOut,
    EventOut,
    HourOut,
    ListedArticle,
    OutletOut,
    RelatedStory,
    SourceOut,
    StoryRef,
    Summary,
    SummarySentence,
    TrendingStory,
)
from pipeline.stories.history import EventKind
from pipeline.stories.onset import onset
from pipeline.stories.status import RunStatus, StoryStatus
from pipeline.vector_index import nearest

StoryOrder = Literal["rank", "recent", "size"]
DEFAULT_STATUSES: tuple[StoryStatus, ...] = (StoryStatus.ACTIVE, StoryStatus.DORMANT)
RECENT = timedelta(hours=24)
MAX_ID = 2**31 - 1
"""Story ids are INTEGER columns: 32 bits on PostgreSQL, the smaller of the two backends."""


@dataclass(frozen=True)
class StoryQuery:
    """Which stories to list, in what order, and which page of them."""

    statuses: tuple[StoryStatus, ...] = DEFAULT_STATUSES
    since: datetime | None = None
    """Stories still seen at or after this (``last_seen >= since``)."""
    until: datetime | None = None
    """Stories already seen at or before this (``first_seen <= until``)."""
    outlet: str | None = None
    """Stories with at least one article from an outlet with every word of this in its
    name, in any case and accents (``search.outlet_matches``)."""
    text: str | None = None
    """Case-insensitive substring of the title or of one keyword, or words of one of the
    story's articles (``search.story_articles_match``)."""
    entity: int | None = None
    """Stories with an article that names this entity (``entities.id``)."""
    order: StoryOrder = "rank"
    limit: int | None = 20
    """None: every story that matches (the command line's default)."""
    offset: int = 0


@dataclass(frozen=True)
class StoryPage:
    """One page of summaries and how many match. Not the API's ``StoryList``: the command
    line lists every story (no limit), and ``updated_at`` is the caller's clock."""

    total: int
    items: list[Summary]


ARTICLE_COLUMNS = (
    Article.id,
    Article.title,
    Article.url,
    Feed.outlet,
    Article.published_at,
    Article.duplicate_of_id,
    Article.text,
    case((Article.body.is_not(None), "page"), else_="feed").label("text_source"),
)
"""An ``ArticleOut``'s columns, in its fields' order (with ``Feed`` joined)."""
LISTED_COLUMNS = (
    *ARTICLE_COLUMNS,
    StoryArticle.story_id,
    Article.extract_state,
    Article.extract_reason,
)
"""A ``ListedArticle``'s columns, in its fields' order (``list_articles``' joins)."""


@dataclass(frozen=True)
class ArticleQuery:
    """Which articles to list, newest first, and which page of them; every filter given
    must hold."""

    story: int | None = None
    """The articles of this story (none when no story has this id)."""
    unclustered: bool = False
    """Only the articles in no story."""
    text: str | None = None
    """Words of the title and the text read (``Article.text``), in any case and accents
    (``search.article_matches``)."""
    outlet: str | None = None
    """Articles of an outlet with every word of this in its name (``search.outlet_matches``)."""
    since: datetime | None = None
    """Published at or after this."""
    until: datetime | None = None
    """Published at or before this."""
    limit: int | None = 50
    """None: every article that matches."""
    offset: int = 0


@dataclass(frozen=True)
class ArticleListing:
    """One page of articles and how many match (the API's ``ArticleList`` adds the paging)."""

    total: int
    items: list[ListedArticle]


@dataclass(frozen=True)
class StoryDetail:
    """One story as ``story_detail`` reads it: the parts of the API's ``StoryOut`` without
    its article page's ``limit`` and ``offset``, which are the caller's (None reads them all;
    the DAG tests page through ``articles`` and ``article_total``)."""

    summary: Summary
    merged_into_id: int | None
    articles: list[ArticleOut] = field(default_factory=list)
    sentences: list[SummarySentence] = field(default_factory=list)
    """The story's summary, first sentence first."""
    """One page of them, newest first."""
    article_total: int = 0
    """All of the story's articles, not only the page's."""
    sources: list[SourceOut] = field(default_factory=list)
    """Every outlet, the one that broke the story first (``arrival_rank``)."""
    timeline: list[HourOut] = field(default_factory=list)
    history: list[EventOut] = field(default_factory=list)
    merged_from: list[StoryRef] = field(default_factory=list)
    split_from: list[StoryRef] = field(default_factory=list)
    split_into: list[StoryRef] = field(default_factory=list)


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
    leads = _leads(session, [row[0] for row in rows])
    named = top_entities(session, [row[0] for row in rows])
    return StoryPage(
        total=total,
        items=[
            _summary(row, leads.get(row[0])).model_copy(update={"entities": named[row[0]]})
            for row in rows
        ],
    )


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
    members = _members(story_id)
    sources = _sources(session, members)
    sentences = summary_sentences(session, [story_id]).get(story_id, [])
    return StoryDetail(
        summary=_summary(row, sentences[0] if sentences else None).model_copy(
            update={"entities": top_entities(session, [story_id])[story_id]}
        ),
        merged_into_id=row[9],
        sentences=sentences,
        articles=_article_page(session, members, article_limit, article_offset),
        article_total=sum(source.articles for source in sources),
        sources=sources,
        timeline=_timeline(session, story_id),
        history=_history(session, story_id),
        merged_from=_refs(session, Story.merged_into_id == story_id),
        split_from=_refs(session, _split_from(story_id, Story.id)),
        split_into=_refs(session, _split_from(Story.id, story_id)),
    )


def list_articles(session: Session, query: ArticleQuery) -> ArticleListing:
    """One page of the articles matching ``query``, newest first (ties: the newer id), and
    how many match. An unknown story has no articles: an empty page, not an error."""
    conditions = _article_conditions(session, query)
    page = (
        _with_story_and_outlet(select(*LISTED_COLUMNS))
        .where(*conditions)
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(query.limit)
        .offset(query.offset or None)
    )
    items = _rows(ListedArticle, session.execute(page))
    short = query.limit is None or len(items) < query.limit
    if short and (items or not query.offset):
        # The page ends the list: its end is the total. A search reads every text once,
        # not twice (seconds on 50,000 articles of whole pages).
        return ArticleListing(total=query.offset + len(items), items=items)
    count = _with_story_and_outlet(select(func.count()).select_from(Article))
    return ArticleListing(total=session.scalar(count.where(*conditions)) or 0, items=items)


def _with_story_and_outlet(statement: Select[*tuple[Any, ...]]) -> Select[*tuple[Any, ...]]:
    """``statement`` on the articles, with each one's feed and, if it has one, its story."""
    return statement.join(Feed, Feed.id == Article.feed_id).outerjoin(
        StoryArticle, StoryArticle.article_id == Article.id
    )


def _article_conditions(session: Session, query: ArticleQuery) -> list[ColumnElement[bool]]:
    dialect = session.get_bind().dialect.name
    conditions: list[ColumnElement[bool]] = []
    if query.story is not None:
        # An id no row can have matches nothing, without asking the database (it would
        # overflow the column's type).
        known = 1 <= query.story <= MAX_ID
        conditions.append(StoryArticle.story_id == query.story if known else false())
    if query.unclustered:
        conditions.append(StoryArticle.story_id.is_(None))
    if query.outlet is not None:
        conditions.append(Article.feed_id.in_(outlet_feeds(dialect, query.outlet)))
    if query.since is not None:
        conditions.append(Article.published_at >= query.since)
    if query.until is not None:
        conditions.append(Article.published_at <= query.until)
    if query.text:
        conditions.append(article_matches(session, query.text))
    return conditions


def _members(story_id: int) -> Select[*tuple[Any, ...]]:
    """The story's articles as ``ARTICLE_COLUMNS``, in no order."""
    return (
        select(*ARTICLE_COLUMNS)
        .join(StoryArticle, StoryArticle.article_id == Article.id)
        .join(Feed, Feed.id == Article.feed_id)
        .where(StoryArticle.story_id == story_id)
    )


def _article_page(
    session: Session, members: Select[*tuple[Any, ...]], limit: int | None, offset: int
) -> list[ArticleOut]:
    """One page of ``members``, newest first."""
    page = (
        members.order_by(Article.published_at.desc(), Article.id.desc())
        .limit(limit)
        .offset(offset or None)
    )
    return _rows(ArticleOut, session.execute(page))


def _sources(session: Session, members: Select[*tuple[Any, ...]]) -> list[SourceOut]:
    """Each outlet of ``members`` with its articles, first report and arrival rank (as the
    ``story_sources`` view): the outlet that broke the story first, outlets with only
    articles older than the story's onset (``pipeline.stories.onset``) last."""
    in_story = members.subquery("members")
    rows = session.execute(select(in_story.c.published_at, in_story.c.outlet)).all()
    began = onset([(published, outlet) for published, outlet in rows])
    articles: dict[str, int] = defaultdict(int)
    first: dict[str, datetime] = {}
    reported: dict[str, datetime] = {}
    for published, outlet in rows:
        articles[outlet] += 1
        first[outlet] = min(first.get(outlet, published), published)
        if began is not None and published >= began:
            reported[outlet] = min(reported.get(outlet, published), published)
    reports = sorted(reported.values())
    # rank() as SQL has it: ties share a rank, and the next rank skips past them.
    rank = {at: reports.index(at) + 1 for at in reports}
    sources = [
        SourceOut(
            outlet=outlet,
            articles=articles[outlet],
            first_article_at=first[outlet],
            first_report_at=reported.get(outlet),
            arrival_rank=rank[reported[outlet]] if outlet in reported else None,
        )
        for outlet in articles
    ]
    last = len(sources) + 1
    return sorted(
        sources,
        key=lambda s: (s.arrival_rank or last, s.first_article_at, s.outlet),
    )


def _timeline(session: Session, story_id: int) -> list[HourOut]:
    rows = session.execute(
        select(StoryHour.hour, StoryHour.article_count, StoryHour.outlet_count)
        .where(StoryHour.story_id == story_id)
        .order_by(StoryHour.hour)
    )
    return _rows(HourOut, rows)


def _history(session: Session, story_id: int) -> list[EventOut]:
    """The story's own events, and a ``split`` event for each story that split from it
    (the child's event, seen from the parent: ``relation`` "split into", the child as the
    other story), oldest first, as the ``story_history`` view."""
    own = select(StoryEvent.at, StoryEvent.kind, StoryEvent.other_story_id, StoryEvent.id).where(
        StoryEvent.story_id == story_id
    )
    children = select(StoryEvent.at, StoryEvent.kind, StoryEvent.story_id, StoryEvent.id).where(
        StoryEvent.kind == EventKind.SPLIT, StoryEvent.other_story_id == story_id
    )
    rows = [(at, kind, other, event, False) for at, kind, other, event in session.execute(own)]
    rows += [(at, kind, child, event, True) for at, kind, child, event in session.execute(children)]
    rows.sort(key=lambda row: (row[0], row[3], row[4]))
    return [
        EventOut(at=at, kind=kind, other_story_id=other, relation=_relation(kind, into))
        for at, kind, other, _event, into in rows
    ]


def _relation(kind: str, into: bool) -> str | None:
    """How the other story of an event relates to the story (the view's ``relation``)."""
    if kind == EventKind.MERGED:
        return "merged into"
    if kind == EventKind.SPLIT:
        return "split into" if into else "split from"
    return None


def _split_from(story: int | Mapped[int], parent: int | Mapped[int]) -> ColumnElement[bool]:
    """``story`` has a ``split`` event naming ``parent``: it was split from it."""
    return (
        exists()
        .where(StoryEvent.story_id == story)
        .where(StoryEvent.kind == EventKind.SPLIT)
        .where(StoryEvent.other_story_id == parent)
    )


def _refs(session: Session, condition: ColumnElement[bool]) -> list[StoryRef]:
    """The stories meeting ``condition``, by id."""
    rows = session.execute(select(Story.id, Story.title).where(condition).order_by(Story.id))
    return _rows(StoryRef, rows)


RowModel = TypeVar("RowModel", ArticleOut, ListedArticle, HourOut, EventOut, StoryRef)


def _rows(model: type[RowModel], rows: Iterable[Sequence[Any]]) -> list[RowModel]:
    """Each row as a ``model``, its columns in the model's fields' order.

    Validated, not ``model_construct``-ed: pydantic-core validates these flat rows faster
    than ``model_construct`` runs in Python (measured on 10,000 article rows)."""
    names = tuple(model.model_fields)
    return [model.model_validate(dict(zip(names, row, strict=True))) for row in rows]


RELATED_MIN_SIMILARITY = 0.3
"""The floor of a related story's centroid similarity. On the demo the stories of the Paris
attacks, the strikes on Raqqa and the Sinai bombing score 0.34 to 0.68 with each other,
and a football match 0.08 to 0.21 with each of them: below 0.3 a story is not related."""


def related_stories(
    session: Session,
    story_id: int,
    now: datetime,
    limit: int,
    statuses: tuple[StoryStatus, ...] = DEFAULT_STATUSES,
    min_similarity: float = RELATED_MIN_SIMILARITY,
) -> list[RelatedStory] | None:
    """The ``limit`` stories of ``statuses`` whose centroids are nearest (cosine) to this
    story's, at least ``min_similarity``, nearest first, without itself; None if the story
    is unknown, and none when it has no centroid.

    Only centroids of this one's dimension count (another is another model's). The search
    is ``vector_index.nearest``: PostgreSQL asks the HNSW index of that dimension in an
    iterative strict-order scan, so the status filter still fills the page; SQLite scans the
    centroids. The similarity is rounded to four decimals.
    """
    found = session.execute(select(Story.centroid).where(Story.id == story_id)).first()
    if found is None:
        return None
    target = found[0]
    if target is None:
        return []
    query = select(Story.id, Story.centroid).where(
        Story.status.in_(statuses), Story.id != story_id, Story.centroid.is_not(None)
    )
    hits = nearest(session, query, target, candidates=limit, top=limit, iterative="strict_order")
    hits = [hit for hit in hits if hit.similarity >= min_similarity]
    if not hits:
        return []
    summaries = _summary_fields(session, now, [hit.row[0] for hit in hits])
    return [
        RelatedStory(**summaries[hit.row[0]], similarity=round(hit.similarity, 4))
        for hit in hits
        if hit.row[0] in summaries
    ]


TRENDING_EARLIER = timedelta(hours=48)
"""The earlier stretch a story's recent hours are compared with (the ``trending_stories``
view's ``articles_previous_48h``)."""
TRENDING_MIN_ARTICLES = 2
"""Breaking's default floor of new articles in the window: one lone article is no news
breaking (the view's too). The API takes 1 to ``TRENDING_MAX_MIN_ARTICLES``."""
TRENDING_MAX_MIN_ARTICLES = 100

TrendingMark = Literal["new", "developing"]


def trending_mark(first_seen: datetime, window_start: datetime) -> TrendingMark:
    """``new``: the story was first seen inside the window (after its start); else an older
    story gaining again, ``developing``."""
    return "new" if first_seen > window_start else "developing"


def trending_stories(
    session: Session,
    now: datetime,
    hours: int = 6,
    limit: int | None = None,
    min_articles: int = TRENDING_MIN_ARTICLES,
) -> list[TrendingStory]:
    """Active stories growing against their own pace: at least ``min_articles`` articles in
    the last ``hours`` up to ``now``, at a faster rate than in the 48 hours before, ranked by
    growth, (recent + 1) / (earlier * hours / 48 + 1).

    Growing means faster than before: recent > earlier * hours / 48, compared in whole
    numbers (48 * recent > earlier * hours), so a steady story (growth 1) and a shrinking one
    are left out however the growth rounds. Each is marked ``new`` (first seen inside the
    window) or ``developing`` (an older story gaining).

    The ``trending_stories`` view (migration 0016) at 6 hours and 2 articles, computed here
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
        if recent >= max(1, min_articles) and recent > earlier / periods:
            growth = (recent + 1) / (Fraction(earlier) / periods + 1)
            scored.append((growth, recent, earlier, story_id))
    scored.sort(key=lambda s: (-s[0], -s[1], s[3]))
    if limit is not None:
        scored = scored[:limit]
    if not scored:
        return []
    summaries = _summary_fields(session, now, [s[3] for s in scored])
    return [
        TrendingStory(
            **summaries[story_id],
            rank=rank,
            recent_articles=recent,
            earlier_articles=earlier,
            earlier_rate=round(float(earlier / periods), 4),
            growth=float(_two_decimals(growth)),
            mark=trending_mark(summaries[story_id]["first_seen"], recent_start),
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


def _summary(row: Any, lead: SummarySentence | None = None) -> Summary:
    return Summary(**_fields(row), lead=lead)


def summary_sentences(session: Session, story_ids: list[int]) -> dict[int, list[SummarySentence]]:
    """The summaries of the stories ``story_ids``, by id, each first sentence first; a
    story with none is left out."""
    if not story_ids:
        return {}
    rows = session.execute(
        select(
            StorySentence.story_id,
            StorySentence.sentence,
            StorySentence.article_id,
            Feed.outlet,
            Article.url,
            Article.published_at,
        )
        .join(Article, Article.id == StorySentence.article_id)
        .join(Feed, Feed.id == Article.feed_id)
        .where(StorySentence.story_id.in_(story_ids))
        .order_by(StorySentence.story_id, StorySentence.position)
    )
    found: dict[int, list[SummarySentence]] = {}
    for story_id, sentence, article_id, outlet, url, published_at in rows:
        found.setdefault(story_id, []).append(
            SummarySentence(
                sentence=sentence,
                article_id=article_id,
                outlet=outlet,
                url=url,
                published_at=published_at,
            )
        )
    return found


def _leads(session: Session, story_ids: list[int]) -> dict[int, SummarySentence]:
    """Each story's first summary sentence, by id."""
    return {
        story: sentences[0] for story, sentences in summary_sentences(session, story_ids).items()
    }


def _fields(row: Any) -> dict[str, Any]:
    """A ``Summary``'s fields from a row of ``_summaries``, for it or a model extending it."""
    return {
        "id": row[0],
        "title": row[1],
        "keywords": list(row[2] or []),
        "status": row[3],
        "articles": row[4],
        "outlets": row[5],
        "first_seen": row[6],
        "last_seen": row[7],
        "articles_last_24h": int(row[8]),
    }


def _summary_fields(session: Session, now: datetime, ids: list[int]) -> dict[int, dict[str, Any]]:
    """``_fields`` of the stories ``ids``, by id."""
    rows = session.execute(_summaries(now).where(Story.id.in_(ids)))
    leads = _leads(session, ids)
    named = top_entities(session, ids)
    return {
        row[0]: {**_fields(row), "lead": leads.get(row[0]), "entities": named[row[0]]}
        for row in rows
    }


def _conditions(session: Session, query: StoryQuery) -> list[ColumnElement[bool]]:
    dialect = session.get_bind().dialect.name
    conditions: list[ColumnElement[bool]] = [Story.status.in_(query.statuses)]
    if query.since is not None:
        conditions.append(Story.last_seen >= query.since)
    if query.until is not None:
        conditions.append(Story.first_seen <= query.until)
    if query.outlet is not None:
        # The outlet's article ids once (from its feeds' index, never the articles' wide
        # rows), then their stories: SQLite otherwise reads every member article's row.
        outlet_articles = select(Article.id).where(
            Article.feed_id.in_(outlet_feeds(dialect, query.outlet))
        )
        conditions.append(
            Story.id.in_(
                select(StoryArticle.story_id).where(StoryArticle.article_id.in_(outlet_articles))
            )
        )
    if query.entity is not None:
        known = 1 <= query.entity <= MAX_ID
        conditions.append(names_entity(query.entity) if known else false())
    if query.text:
        pattern = fold(query.text)
        in_keywords = _keyword_contains(dialect, pattern)
        if pattern.isascii() and pattern.isprintable() and not {'"', "\\"} & set(pattern):
            # Such a pattern reads the same inside the list's JSON text: a cheap LIKE on the
            # text leaves the element-by-element match only the stories that might match.
            # (CASE, not AND: the planner may otherwise run the subquery first.)
            keywords_text = folded(cast(Story.keywords, String))
            in_keywords = case(
                (keywords_text.contains(pattern, autoescape=True), in_keywords), else_=False
            )
        in_title = folded(Story.title).contains(pattern, autoescape=True)
        conditions.append(in_title | in_keywords | story_articles_match(session, query.text))
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


def outlets(session: Session) -> list[OutletOut]:
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
        OutletOut(
            outlet=outlet,
            feeds=int(feeds[outlet]),
            articles=articles.get(outlet, (0, None))[0],
            stories=int(stories.get(outlet, 0)),
            last_article_at=articles.get(outlet, (0, None))[1],
        )
        for outlet in sorted(feeds)
    ]

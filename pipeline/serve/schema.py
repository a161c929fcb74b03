"""The stories as JSON: one set of models for the HTTP API and ``storyline stories --format
json``, so the two say the same things under the same names.

The names follow the analysts' SQL views (``sql/README.md``): a plural noun that counts is a
number (``articles``, ``outlets``, as in ``story_summary``), and a list is named for what it
holds (``article_page``, ``sources`` as in ``story_sources``). Pydantic only: the command
line uses these without importing FastAPI. ``pipeline.serve.queries`` builds them from the
database's rows; the API adds only the paging and the clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

TextSource = Literal["page", "feed"]


class SummarySentence(BaseModel):
    """One sentence of a story's summary (the ``story_summary_sentences`` view), with the
    article it is taken from."""

    sentence: str
    article_id: int
    outlet: str
    url: str | None
    published_at: datetime


EntityKind = Literal["person", "organisation", "place"]


class EntityOut(BaseModel):
    """A person, place or organisation a story's articles name (the ``story_entities``
    view): how many of its articles and outlets name it."""

    id: int
    kind: EntityKind
    name: str
    articles: int
    outlets: int


class EntityDetail(BaseModel):
    """One entity (``GET /api/entities/{id}``): what it is, and how much names it."""

    id: int
    kind: EntityKind
    name: str
    articles: int
    """Articles that name it."""
    stories: int
    """Live stories (active or dormant) with an article that names it."""


class Summary(BaseModel):
    """One story in a list: the CLI's ``stories --format json`` and ``GET /api/stories``."""

    id: int
    title: str
    keywords: list[str]
    status: str
    articles: int
    """How many articles the story holds."""
    outlets: int
    """How many distinct outlets they come from."""
    first_seen: datetime
    last_seen: datetime
    articles_last_24h: int
    """Articles published in the 24 hours up to the pipeline's clock: the ranking's key."""
    lead: SummarySentence | None = None
    """The first sentence of the story's summary: the story at a glance; None while it has
    none (no article with text to take one from)."""
    entities: list[EntityOut] = []
    """Its people, places and organisations, the most named first within each kind (at most
    a few of each), people first, then places, then organisations."""


class StoryList(BaseModel):
    total: int
    limit: int
    offset: int
    updated_at: datetime | None
    """When the newest successful cluster run finished."""
    items: list[Summary]


class ArticleOut(BaseModel):
    id: int
    title: str
    url: str | None
    outlet: str
    published_at: datetime
    duplicate_of: int | None
    """The first copy of the same wire story, when this one is a reprint of it."""
    text: str
    """The text read, whole: the body of the article's page, else the feed's summary."""
    text_source: TextSource
    """Where ``text`` comes from: ``page`` (read from the article's page) or ``feed``."""


class ListedArticle(ArticleOut):
    """One article in ``GET /api/articles`` and ``storyline articles --format json``."""

    story_id: int | None
    """The story it belongs to; None when it is in no story."""
    extract_state: str | None
    """How reading its page went: ``pending``, ``ok``, ``kept``, ``skipped`` or ``failed``;
    None when no page was wanted (the feed gave the whole text)."""
    extract_reason: str | None
    """Why a page was kept, skipped or failed, in a few words; None otherwise."""


class ArticleList(BaseModel):
    """One page of articles, newest first; ``total`` counts all that match."""

    total: int
    limit: int
    offset: int
    items: list[ListedArticle]


class ArticlePage(BaseModel):
    """One page of a story's articles, newest first; ``total`` counts them all."""

    total: int
    limit: int
    offset: int
    items: list[ArticleOut]


class SourceOut(BaseModel):
    """One outlet's part in a story (the ``story_sources`` view)."""

    outlet: str
    articles: int
    first_article_at: datetime
    first_report_at: datetime | None
    """Its first article from the story's onset on (``pipeline.stories.onset``: the first burst
    of coverage two outlets report); None when all its articles are older background."""
    arrival_rank: int | None
    """1 for the outlet that broke the story (the earliest first report; ties share a
    rank); None without a first report."""


class HourOut(BaseModel):
    hour: datetime
    articles: int
    outlets: int


class EventOut(BaseModel):
    at: datetime
    kind: str
    other_story_id: int | None
    relation: str | None = None
    """What the other story is to this one: ``merged into``, ``split from`` (this story's
    own ``split``) or ``split into`` (a story that split from this one); None otherwise."""


class StoryRef(BaseModel):
    """Another story named by a story's lineage."""

    id: int
    title: str


class StoryOut(Summary):
    """One story (``GET /api/stories/{id}``): its summary, then what it is made of."""

    summary: list[SummarySentence]
    """Two or three sentences of its articles, the most central first, each with its
    article, outlet and link; the first is ``lead``."""
    merged_into_id: int | None
    merged_from: list[StoryRef]
    """Stories merged into this one."""
    split_from: list[StoryRef]
    """The story this one split from (its ``split`` events)."""
    split_into: list[StoryRef]
    """Stories that split from this one."""
    article_page: ArticlePage
    sources: list[SourceOut]
    """Every outlet, the one that broke the story first (``arrival_rank``)."""
    timeline: list[HourOut]
    """Articles per hour, oldest first."""
    history: list[EventOut]


class RelatedStory(Summary):
    similarity: float
    """Cosine similarity of the two stories' centroids."""


class RelatedList(BaseModel):
    story_id: int
    items: list[RelatedStory]
    """Nearest first."""


class TrendingStory(Summary):
    rank: int
    recent_articles: int
    """Articles in the last ``hours`` up to the pipeline's clock."""
    earlier_articles: int
    """Articles in the 48 hours before those."""
    earlier_rate: float
    """``earlier_articles`` per ``hours``: the story's own earlier pace."""
    growth: float
    """(recent_articles + 1) / (earlier_rate + 1), to two decimals; always above 1."""
    mark: Literal["new", "developing"]
    """``new``: first seen inside the window; ``developing``: an older story gaining."""


class TrendingList(BaseModel):
    at: datetime
    """The pipeline's clock the hours end at."""
    hours: int
    min_articles: int
    """The fewest articles in the window a story needed to be listed."""
    items: list[TrendingStory]


class OutletOut(BaseModel):
    """One outlet (``GET /api/outlets``): what the registry and the stories hold of it."""

    outlet: str
    feeds: int
    """Its feeds in the registry, enabled or not."""
    articles: int
    stories: int
    """Live stories (active or dormant) with at least one of its articles."""
    last_article_at: datetime | None
    """Its newest article's publication time; None before its first article."""


class OutletList(BaseModel):
    items: list[OutletOut]
    """Every outlet of the registry, by name."""


class Health(BaseModel):
    status: str
    database: str
    stories: int
    last_run_at: datetime | None


class Problem(BaseModel):
    detail: str

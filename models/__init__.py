"""The Storyline schema as typed SQLAlchemy 2 ORM models.

The tables are created and changed only by the Alembic migrations under ``sql/migrations``;
these classes describe them for queries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import ColumnElement

from models.types import EmbeddingVector, FloatArray, UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Feed(Base):
    """A feed in the registry, with the state of its last fetch."""

    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    url: Mapped[str] = mapped_column(Text)
    outlet: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    etag: Mapped[str | None] = mapped_column(Text)
    """The server's ETag, kept as the opaque token it is and sent back verbatim."""
    last_modified: Mapped[str | None] = mapped_column(Text)
    fetch_url: Mapped[str | None] = mapped_column(Text)
    """Where the feed lives now, after permanent redirects; ``url`` stays what the registry says."""
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    retry_after_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The server asked (429/503 ``Retry-After``) not to be fetched before this.

    Even ``ingest --force`` waits."""
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    """Set by the fetcher when the publisher removed the feed (410); the registry's ``enabled`` is
    separate."""
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    identity: Mapped[str] = mapped_column(String(10), default="guid")
    full_text: Mapped[str] = mapped_column(String(8), default="auto", server_default="auto")
    """Whether the extract stage reads the page of this feed's articles: ``auto`` (when the
    feed's text is a teaser), ``always`` or ``never``."""
    """How entries are told apart: ``guid``, or ``link`` for feeds whose GUIDs are not unique
    or change on every fetch."""
    publish_interval_seconds: Mapped[float | None] = mapped_column(Float)
    """Typical time between the feed's entries, which sets how often it is checked."""

    @property
    def status(self) -> str:
        """``disabled``, ``failing`` (its last fetch failed) or ``active``."""
        if not self.enabled or self.disabled_reason is not None:
            return "disabled"
        return "failing" if self.error_count > 0 else "active"

    @property
    def effective_url(self) -> str:
        return self.fetch_url or self.url


class Article(Base):
    """One feed entry; identity is (feed, guid), and a canonical URL is stored at most once."""

    __tablename__ = "articles"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid"),
        UniqueConstraint("url"),
        # With the id, the API's recent-article counts and outlet filter read only the index.
        Index("ix_articles_published_at_id", "published_at", "id"),
        Index("ix_articles_feed_id_id", "feed_id", "id"),
        Index("ix_articles_feed_id_content_hash", "feed_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    language: Mapped[str | None] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the entry reappeared with changed text and the article was updated."""
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    """The first copy of the same wire story, when this article is a syndicated reprint."""
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    """MinHash signature of the text, for finding reprints."""
    body: Mapped[str | None] = mapped_column(Text)
    """The article's body as extracted from its page; ``None``: the feed's summary is its
    text (``text``)."""
    text_hash: Mapped[str | None] = mapped_column(String(64))
    """Hash of the title and ``body`` when there is one: what the embedding must match."""
    extract_state: Mapped[str | None] = mapped_column(String(16), index=True)
    """``None`` (no page wanted), ``pending``, ``ok``, ``kept``, ``skipped`` or ``failed``
    (``pipeline/extract/``)."""
    extract_reason: Mapped[str | None] = mapped_column(String(200))
    extract_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    extract_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """A failed fetch is retried no earlier than this."""

    @hybrid_property
    def text(self) -> str:
        """The text read: the page's body, else the feed's summary."""
        return self.body if self.body is not None else self.summary

    @text.inplace.expression
    @classmethod
    def _text_expression(cls) -> ColumnElement[str]:
        return func.coalesce(cls.body, cls.summary).label("text")

    @hybrid_property
    def read_hash(self) -> str:
        """The hash of the text read, which an embedding of it records."""
        return self.text_hash if self.text_hash is not None else self.content_hash

    @read_hash.inplace.expression
    @classmethod
    def _read_hash_expression(cls) -> ColumnElement[str]:
        return func.coalesce(cls.text_hash, cls.content_hash).label("read_hash")


class Embedding(Base):
    """An article's vector under one model; computed once per (article, model)."""

    __tablename__ = "embeddings"
    __table_args__ = (UniqueConstraint("article_id", "model"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(300))
    model_version: Mapped[str | None] = mapped_column(String(200))
    """The packaged model's and sentence-transformers' versions that made the vector."""
    dim: Mapped[int] = mapped_column(Integer)
    """The vector's length; one model's vectors all have the same (the embed stage sees to it)."""
    vector: Mapped[FloatArray] = mapped_column(EmbeddingVector())
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Story(Base):
    """A story: related coverage across outlets, with an id that survives re-clustering."""

    __tablename__ = "stories"
    __table_args__ = (
        Index("ix_stories_status_last_seen", "status", "last_seen"),
        # pgvector's HNSW indexes on centroid, one per dimension (PostgreSQL only), are not
        # declared here: partial expression indexes, which Alembic cannot compare on SQLite
        # and whose set grows with the models used (migration 0009, pipeline/vector_index.py).
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    article_count: Mapped[int] = mapped_column(Integer, default=0)
    source_count: Mapped[int] = mapped_column(Integer, default=0)
    original_count: Mapped[int] = mapped_column(Integer, default=0)
    """Articles that are not reprints of another article: distinct reporting."""
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    centroid: Mapped[FloatArray | None] = mapped_column(EmbeddingVector())
    """The mean of its articles' vectors under ``model``, of that model's dimension."""
    model: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="active")
    """``active``, ``dormant`` (no new article for a while), ``merged`` or ``dissolved``."""
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"))
    """For a ``merged`` story: the story that absorbed it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_run_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_runs.id"))
    updated_run_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_runs.id"))


class StoryEvent(Base):
    """One step in a story's lineage: created, grew, merged, split, dissolved, dormant, revived."""

    __tablename__ = "story_events"
    __table_args__ = (Index("ix_story_events_story_id_at", "story_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_runs.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(20))
    other_story_id: Mapped[int | None] = mapped_column(ForeignKey("stories.id"))
    """``merged``: the story it merged into; ``split``: the story it split from."""
    article_count: Mapped[int] = mapped_column(Integer, default=0)


class StoryHour(Base):
    """A story's timeline: articles and outlets per hour of publication."""

    __tablename__ = "story_hours"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    article_count: Mapped[int] = mapped_column(Integer)
    outlet_count: Mapped[int] = mapped_column(Integer)


class StoryArticle(Base):
    """Membership: an article belongs to at most one story at a time."""

    __tablename__ = "story_articles"
    __table_args__ = (Index("ix_story_articles_story_id", "story_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    story_id: Mapped[int] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"))
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_runs.id"))


class StorySentence(Base):
    """One sentence of a story's summary, taken from one of its articles
    (``pipeline/stories/summary.py``); rewritten whenever the story's membership changes."""

    __tablename__ = "story_sentences"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    """1 for the first sentence: the most central."""
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )
    sentence: Mapped[str] = mapped_column(Text)


class SharedParagraph(Base):
    """A paragraph seen at the end of an extracted body, outside the lead's kind of element:
    once a second article's body ends with it, it is a site's boilerplate (an author's
    note, an "about us", a promotion) and no body keeps it (``pipeline/extract/shared.py``)."""

    __tablename__ = "shared_paragraphs"

    digest: Mapped[str] = mapped_column(String(40), primary_key=True)
    """sha1 of the paragraph's squashed text (lower-case word characters)."""
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("articles.id", ondelete="SET NULL"), index=True
    )
    """The first article whose body had it (null once that article is deleted)."""
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    """Whether a second article's body had it too."""


class Entity(Base):
    """A person, place or organisation, one per kind and folded name (``pipeline/entities``)."""

    __tablename__ = "entities"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    """``person``, ``organisation`` or ``place``."""
    name: Mapped[str] = mapped_column(String(300))
    """The name shown: the best-spelt seen ("François Hollande" over "Francois Hollande")."""
    key: Mapped[str] = mapped_column(String(300))
    """The name folded: accents, case, punctuation and a person's title gone."""


class ArticleEntity(Base):
    """An entity an article names: how often, and whether in its title."""

    __tablename__ = "article_entities"
    __table_args__ = (Index("ix_article_entities_entity_id", "entity_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    entity_id: Mapped[int] = mapped_column(
        ForeignKey("entities.id", ondelete="CASCADE"), primary_key=True
    )
    mentions: Mapped[int] = mapped_column(Integer)
    in_title: Mapped[bool] = mapped_column(Boolean)


class EntityReading(Base):
    """Which text of an article its entities were found in, and by which model: the entity
    stage reads the article again when either changes (as ``Embedding.content_hash``)."""

    __tablename__ = "entity_readings"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    read_hash: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(300))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClusterRun(Base):
    """One re-clustering of the recent window: its inputs, parameters and outcome."""

    __tablename__ = "cluster_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    now: Mapped[datetime] = mapped_column(UTCDateTime)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    model: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="running")
    article_count: Mapped[int] = mapped_column(Integer, default=0)
    cluster_count: Mapped[int] = mapped_column(Integer, default=0)
    noise_count: Mapped[int] = mapped_column(Integer, default=0)
    stories_created: Mapped[int] = mapped_column(Integer, default=0)
    stories_changed: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    input_hash: Mapped[str] = mapped_column(String(64))
    """Digest of the window's articles and the parameters: an unchanged input is not re-run."""


__all__ = [
    "Article",
    "ArticleEntity",
    "Base",
    "ClusterRun",
    "Embedding",
    "Entity",
    "EntityReading",
    "Feed",
    "SharedParagraph",
    "Story",
    "StoryArticle",
    "StoryEvent",
    "StoryHour",
    "StorySentence",
]


VECTOR_INDEXES = (("stories", "centroid"), ("embeddings", "vector"))
"""The vector columns with one HNSW index per dimension, ``ix_<table>_<column>_hnsw_<dim>``
(PostgreSQL; ``pipeline/vector_index.py``)."""
VECTOR_INDEX_PREFIXES = tuple(f"ix_{table}_{column}_hnsw_" for table, column in VECTOR_INDEXES)


SEARCH_TABLE = "article_search"
"""SQLite's FTS5 index of the articles' words, by article id (migration 0013)."""
SEARCH_COLUMN = "search_vector"
"""PostgreSQL's ``tsvector`` of an article's words, a column of ``articles`` (migration 0013)."""
SEARCH_INDEX = "ix_articles_search_vector"


def in_schema_of(dialect: str) -> Callable[..., bool]:
    """An Alembic ``include_object`` hook: leave out the vector indexes, which no model
    declares (PostgreSQL only, one per dimension in use), and the full-text search index,
    which is each backend's own (``pipeline/search.py``), so comparing the models with a
    migrated database of either backend sees none missing or extra."""

    def include(obj: object, name: str | None, type_: str, *_: object) -> bool:
        name = name or ""
        if type_ == "index":
            return not (name.startswith(VECTOR_INDEX_PREFIXES) or name == SEARCH_INDEX)
        if type_ == "table":
            return not name.startswith(SEARCH_TABLE)
        return not (type_ == "column" and name == SEARCH_COLUMN)

    return include

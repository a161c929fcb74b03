"""Rows for tests, written straight into the tables."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select

from models import (
    Article,
    Base,
    ClusterRun,
    Embedding,
    Feed,
    Story,
    StoryArticle,
    StorySentence,
)
from pipeline.db import session_scope
from pipeline.settings import DEFAULT_MODEL

T0 = datetime(2015, 11, 16, tzinfo=UTC)

DIM = 384
"""The default model's dimension (all-MiniLM-L6-v2), of the vectors made up here."""


def direction(seed: int, dim: int = DIM) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=dim)
    unit: np.ndarray = (vector / np.linalg.norm(vector)).astype(np.float32)
    return unit


def near(center: np.ndarray, seed: int, spread: float = 0.01) -> np.ndarray:
    noisy = center + np.random.default_rng(seed).normal(scale=spread, size=center.shape[0])
    return (noisy / np.linalg.norm(noisy)).astype(np.float32)


class TopicEmbedder:
    """A fake model of any dimension: a text lies near the direction of its first word, so
    texts that start alike cluster together; deterministic, no weights."""

    version = "topic 1"

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = [
            near(direction(_seed(text.split()[0].lower()), self.dim), _seed(text)) for text in texts
        ]
        return np.stack(rows) if rows else np.empty((0, self.dim), dtype=np.float32)


def _seed(text: str) -> int:
    return zlib.crc32(text.encode())


def mix(a: np.ndarray, b: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector at ``cosine`` similarity to ``a``, towards ``b``."""
    other = b - (b @ a) * a
    other /= np.linalg.norm(other)
    out = cosine * a + np.sqrt(1 - cosine**2) * other
    unit: np.ndarray = (out / np.linalg.norm(out)).astype(np.float32)
    return unit


def add_feeds(engine: Engine, outlets: list[str]) -> dict[str, int]:
    with session_scope(engine) as session:
        feeds = [
            Feed(
                name=outlet.lower(),
                url=f"https://{outlet.lower()}.example/rss",
                outlet=outlet,
                enabled=True,
                created_at=T0,
                updated_at=T0,
                error_count=0,
            )
            for outlet in outlets
        ]
        session.add_all(feeds)
        session.flush()
        return {feed.outlet: feed.id for feed in feeds}


def add_article(
    engine: Engine,
    feed_id: int,
    title: str,
    published: datetime,
    vector: np.ndarray,
    model: str = DEFAULT_MODEL,
    **fields: Any,
) -> int:
    """An article with its embedding; ``fields`` set its other columns (``summary``, a
    page's ``body``, ``extract_state``...)."""
    values: dict[str, Any] = {
        "feed_id": feed_id,
        "guid": f"{feed_id}:{title}",
        "url": None,
        "title": title,
        "summary": "",
        "published_at": published,
        "published_estimated": False,
        "fetched_at": published,
        "content_hash": f"hash:{title}",
    }
    with session_scope(engine) as session:
        article = Article(**(values | fields))
        session.add(article)
        session.flush()
        session.add(
            Embedding(
                article_id=article.id,
                model=model,
                dim=vector.shape[0],
                vector=vector,
                content_hash=article.content_hash,
                created_at=published,
            )
        )
        return article.id


def add_text_article(
    engine: Engine,
    feed_id: int,
    title: str,
    at: datetime,
    story_id: int | None = None,
    **fields: Any,
) -> int:
    """An article at ``at`` (any vector) with ``fields``, in ``story_id`` if given."""
    article_id = add_article(engine, feed_id, title, at, np.ones(DIM, dtype=np.float32), **fields)
    if story_id is not None:
        with session_scope(engine) as session:
            session.add(StoryArticle(article_id=article_id, story_id=story_id, since=at))
    return article_id


@dataclass(frozen=True)
class ArticleRows:
    """``add_article_rows``' stories and articles, newest article first."""

    story: int
    other_story: int
    page: int
    """Read from its page: ``body`` set, its first line after blank space."""
    teaser: int
    """A feed's teaser whose page was skipped."""
    loose: int
    """In no story, its page pending."""
    tied: int
    """In no story, published at the same moment as ``loose``, with a smaller id."""
    old: int
    """The oldest, of the other outlet, in the other story."""


PAGE_BODY = "\n  A magnitude 8.2 quake struck off Chile.\n\nRescuers reached Iquique at dawn."


def add_article_rows(engine: Engine) -> ArticleRows:
    """Articles for the article list: two outlets, two stories, text read from a page and
    from feeds, pages pending, skipped and not wanted, two articles in no story."""
    feeds = add_feeds(engine, ["Alpha", "Délta Post"])
    alpha, delta = feeds["Alpha"], feeds["Délta Post"]
    story = add_story(engine, "Quake in Iquique")
    other = add_story(engine, "Vote in Lima")
    at = [T0 + timedelta(hours=hours) for hours in range(5)]
    old = add_text_article(engine, delta, "Lima votes", at[0], other, summary="Polls open.")
    tied = add_text_article(engine, alpha, "Café owners protest", at[2], summary="ÉMEUTES À LYON")
    loose = add_text_article(
        engine, alpha, "Bakery wins prize", at[2], summary="A teaser.", extract_state="pending"
    )
    teaser = add_text_article(
        engine,
        delta,
        "Iquique: aftershocks",
        at[3],
        story,
        summary="Aftershocks shook Iquique.",
        extract_state="skipped",
        extract_reason="robots.txt disallows the page",
    )
    page = add_text_article(
        engine,
        alpha,
        "Quake hits Iquique",
        at[4],
        story,
        summary="Only the feed says 100%_sure.",
        body=PAGE_BODY,
        text_hash="h",
        extract_state="ok",
    )
    return ArticleRows(story, other, page, teaser, loose, tied, old)


ALL_TABLES: tuple[type[Base], ...] = (
    Feed,
    Article,
    Embedding,
    Story,
    StoryArticle,
    StorySentence,
    ClusterRun,
)


def row_counts(engine: Engine, models: tuple[type[Base], ...] = ALL_TABLES) -> dict[str, int]:
    """Rows per table, to show that a rerun added nothing."""
    with session_scope(engine) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in models
        }


def add_story(engine: Engine, title: str, **fields: Any) -> int:
    """A story row with plain defaults (active, no articles, at ``T0``); ``fields`` override."""
    values: dict[str, Any] = {
        "title": title,
        "status": "active",
        "keywords": [],
        "first_seen": T0,
        "last_seen": T0,
        "model": "m",
        "created_at": T0,
        "updated_at": T0,
        "article_count": 0,
        "source_count": 0,
    }
    with session_scope(engine) as session:
        row = Story(**(values | fields))
        session.add(row)
        session.flush()
        return row.id


def add_cluster_run(engine: Engine, now: datetime) -> None:
    """One successful cluster run at ``now``: the pipeline's clock, as the views and the API
    read it."""
    with session_scope(engine) as session:
        session.add(
            ClusterRun(
                started_at=now,
                finished_at=now,
                now=now,
                window_start=now - timedelta(days=3),
                model="m",
                status="ok",
                input_hash=f"x{now.isoformat()}",
            )
        )

"""What several benchmarks share: where the labelled corpora are, and storing their articles."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from models import Article, Feed
from pipeline.db import session_scope
from pipeline.evaluate import LabelledArticle
from pipeline.ingest.parse import content_hash

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
"""The shared labelled corpora, beside the project (never copied into it)."""

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def keep_best(seconds: dict[str, float], key: str, took: float) -> None:
    """Keep the shortest of the times measured for ``key``."""
    seconds[key] = min(seconds.get(key, took), took)


def insert_articles(engine: Engine, rows: list[LabelledArticle]) -> None:
    """Store ``rows`` as articles of one disabled feed, as ingest would."""
    with session_scope(engine) as session:
        feed = Feed(
            name="bench",
            url="bench",
            outlet="bench",
            enabled=False,
            created_at=NOW,
            updated_at=NOW,
            error_count=0,
        )
        session.add(feed)
        session.flush()
        for index, row in enumerate(rows):
            session.add(
                Article(
                    feed_id=feed.id,
                    guid=str(index),
                    url=None,
                    title=row.title,
                    summary=row.text,
                    published_at=NOW,
                    published_estimated=False,
                    fetched_at=NOW,
                    content_hash=content_hash(row.title, row.text),
                )
            )

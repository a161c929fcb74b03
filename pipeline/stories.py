"""Reading stories back: the current stories with their articles, for the CLI and dashboards."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Article, Feed, Story, StoryArticle


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


def current_stories(session: Session, limit: int | None = None) -> list[StoryView]:
    """Active stories, biggest by distinct outlets then articles, newest first on ties."""
    query = (
        select(Story)
        .where(Story.status == "active")
        .order_by(
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

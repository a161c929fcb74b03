"""Reading entities back: a page of stories' top people, places and organisations, one
entity, and the condition "the story names it" that filters the story list.

The ranking is the ``story_entities`` view's (sql/README.md): most articles, then most
outlets, then most mentions, then the name.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import ColumnElement, distinct, exists, func, select
from sqlalchemy.orm import Session

from models import Article, ArticleEntity, Entity, Feed, Story, StoryArticle
from pipeline.entities.names import fold
from pipeline.serve.schema import EntityDetail, EntityOut

PER_KIND = 3
"""Entities shown per kind for a story."""
KIND_ORDER = ("person", "place", "organisation")
"""The order kinds are shown in: who, where, then which body."""
SINGLE_ARTICLE_STORY = 3
"""A name only one article uses is shown for a story of fewer articles than this: in a
bigger story it is more often a passing mention or the recogniser's mistake."""


def top_entities(
    session: Session, story_ids: Sequence[int], per_kind: int = PER_KIND
) -> dict[int, list[EntityOut]]:
    """The top ``per_kind`` entities of each kind of each story, by story id."""
    if not story_ids:
        return {}
    articles = func.count(distinct(ArticleEntity.article_id))
    outlets = func.count(distinct(Feed.outlet))
    mentions = func.sum(ArticleEntity.mentions)
    rows = session.execute(
        select(
            StoryArticle.story_id, Entity.id, Entity.kind, Entity.name, articles, outlets, mentions
        )
        .join(ArticleEntity, ArticleEntity.article_id == StoryArticle.article_id)
        .join(Entity, Entity.id == ArticleEntity.entity_id)
        .join(Article, Article.id == StoryArticle.article_id)
        .join(Feed, Feed.id == Article.feed_id)
        .where(StoryArticle.story_id.in_(list(story_ids)))
        .group_by(StoryArticle.story_id, Entity.id, Entity.kind, Entity.name)
    ).all()
    sizes: dict[int, int] = {
        story_id: count
        for story_id, count in session.execute(
            select(Story.id, Story.article_count).where(Story.id.in_(list(story_ids)))
        )
    }
    ranked: dict[tuple[int, str], list[tuple[int, int, int, str, int]]] = defaultdict(list)
    for story_id, entity_id, kind, name, named, outlet_count, mention_count in rows:
        if named < 2 and sizes.get(story_id, 0) >= SINGLE_ARTICLE_STORY:
            continue
        ranked[(story_id, kind)].append(
            (-named, -outlet_count, -int(mention_count or 0), name, entity_id)
        )
    for story_id in story_ids:
        _one_kind_per_name(story_id, ranked)
    out: dict[int, list[EntityOut]] = {story_id: [] for story_id in story_ids}
    for story_id in story_ids:
        for kind in KIND_ORDER:
            for named, outlet_count, _, name, entity_id in sorted(ranked[(story_id, kind)])[
                :per_kind
            ]:
                out[story_id].append(
                    EntityOut(
                        id=entity_id, kind=kind, name=name,
                        articles=-named, outlets=-outlet_count,
                    )
                )  # fmt: skip
    return out


def _one_kind_per_name(
    story_id: int, ranked: dict[tuple[int, str], list[tuple[int, int, int, str, int]]]
) -> None:
    """A name the recogniser gave two kinds in one story ("Saint-Denis" the suburb, and
    once a person) is shown once, as the kind more of its articles gave it."""
    best: dict[str, tuple[tuple[int, int, int], str]] = {}
    for kind in KIND_ORDER:
        for entry in ranked[(story_id, kind)]:
            score, key = entry[:3], fold(entry[3])
            if key not in best or score < best[key][0]:
                best[key] = (score, kind)
    for kind in KIND_ORDER:
        ranked[(story_id, kind)] = [
            entry for entry in ranked[(story_id, kind)] if best[fold(entry[3])][1] == kind
        ]


def names_entity(entity_id: int) -> ColumnElement[bool]:
    """A condition on ``Story``: one of its articles names the entity ``entity_id``."""
    return (
        exists()
        .where(StoryArticle.story_id == Story.id)
        .where(ArticleEntity.article_id == StoryArticle.article_id)
        .where(ArticleEntity.entity_id == entity_id)
    )


def entity_detail(session: Session, entity_id: int, statuses: Sequence[str]) -> EntityDetail | None:
    """One entity with how many articles and live stories name it; None if unknown."""
    row = session.execute(
        select(Entity.id, Entity.kind, Entity.name).where(Entity.id == entity_id)
    ).first()
    if row is None:
        return None
    articles = session.scalar(
        select(func.count()).select_from(ArticleEntity).where(ArticleEntity.entity_id == entity_id)
    )
    stories = session.scalar(
        select(func.count(distinct(StoryArticle.story_id)))
        .join(ArticleEntity, ArticleEntity.article_id == StoryArticle.article_id)
        .join(Story, Story.id == StoryArticle.story_id)
        .where(ArticleEntity.entity_id == entity_id, Story.status.in_(list(statuses)))
    )
    return EntityDetail(
        id=row[0], kind=row[1], name=row[2], articles=articles or 0, stories=stories or 0
    )

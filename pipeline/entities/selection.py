"""What needs reading for entities: the articles never read, or read from other text or by
another model. One selection for the stage and for anyone asking how many wait."""

from __future__ import annotations

from typing import TypeVarTuple

from sqlalchemy import Select, or_

from models import Article, EntityReading

Columns = TypeVarTuple("Columns")


def needing_entities(query: Select[*Columns], model: str) -> Select[*Columns]:
    """``query`` (of articles) narrowed to those whose entities are missing or stale for
    ``model``, by article id (as ``pipeline.embed.selection.needing_embedding``)."""
    return (
        query.outerjoin(EntityReading, EntityReading.article_id == Article.id)
        .where(
            or_(
                EntityReading.article_id.is_(None),
                EntityReading.read_hash != Article.read_hash,
                EntityReading.model != model,
            )
        )
        .order_by(Article.id)
    )

"""What needs embedding: the articles with no vector for the model, or one made from other text.

One selection for the embed stage (which embeds it) and the work batches of the DAGs
(``pipeline.batches``, which split it among workers and ask whether any article waits).
"""

from __future__ import annotations

from typing import TypeVarTuple

from sqlalchemy import Select, and_, or_

from models import Article, Embedding

Columns = TypeVarTuple("Columns")


def needing_embedding(query: Select[*Columns], model: str) -> Select[*Columns]:
    """``query`` (of articles) narrowed to those needing a vector for ``model``, by article id.

    An article needs one when it has none for the model, or when its stored one was made
    from other text (the content hashes differ). The model's embedding is joined, so
    ``query`` may select its columns: ``Embedding.id`` is the stale row, or null.
    """
    return (
        query.outerjoin(
            Embedding, and_(Embedding.article_id == Article.id, Embedding.model == model)
        )
        .where(or_(Embedding.id.is_(None), Embedding.content_hash != Article.read_hash))
        .order_by(Article.id)
    )

"""Embed stage: a vector per article and model, computed once, recomputed when the text changes."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, or_, select, update

from models import Article, Embedding
from pipeline.db import insert_ignore, session_scope
from pipeline.embed.backends import Embedder, settings_embedder
from pipeline.errors import ModelError
from pipeline.progress import Progress
from pipeline.settings import Settings
from pipeline.text import embedding_text
from pipeline.vector_index import ensure_vector_indexes

log = logging.getLogger(__name__)


@dataclass
class EmbedReport:
    embedded: int = 0
    refreshed: int = 0
    batches: int = 0


def embed(
    engine: Engine,
    settings: Settings,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    *,
    article_ids: Collection[int] | None = None,
) -> EmbedReport:
    """Embed every article that has no current vector for the configured model.

    One transaction per batch: an interrupted run keeps finished batches and a rerun
    embeds only what is still missing. ``article_ids`` limits the run to those articles
    (a scheduler hands batches of them to separate workers; ``pipeline.batches``).
    """
    model = settings.model_name
    query = (
        select(Article.id, Article.title, Article.summary, Article.content_hash, Embedding.id)
        .outerjoin(Embedding, and_(Embedding.article_id == Article.id, Embedding.model == model))
        .where(or_(Embedding.id.is_(None), Embedding.content_hash != Article.content_hash))
        .order_by(Article.id)
    )
    if article_ids is not None:
        query = query.where(Article.id.in_(list(article_ids)))
    with session_scope(engine) as session:
        todo = list(session.execute(query).all())
    report = EmbedReport()
    if not todo:
        return report
    encoder = embedder or settings_embedder(settings)
    started = time.perf_counter()
    _check_dimension(engine, model, encoder.dim)
    ensure_vector_indexes(engine, encoder.dim)
    texts = {
        row.id: embedding_text(row.title, row.summary, settings.embed_text_chars) for row in todo
    }
    # Like lengths in each batch: the model pads every text of a batch to its longest, and
    # sentence-transformers sorts only within one call.
    todo = sorted(todo, key=lambda row: (len(texts[row.id]), row.id))
    size = settings.embed_batch_size
    for start in range(0, len(todo), size):
        batch = todo[start : start + size]
        vectors = encoder.encode([texts[row.id] for row in batch])
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            fresh: list[dict[str, object]] = []
            for row, vector in zip(batch, vectors, strict=True):
                if row[4] is None:
                    fresh.append(
                        {
                            "article_id": row.id,
                            "model": model,
                            "model_version": encoder.version,
                            "dim": int(vector.shape[0]),
                            "vector": vector,
                            "content_hash": row.content_hash,
                            "created_at": now,
                        }
                    )
                else:
                    session.execute(
                        update(Embedding)
                        .where(Embedding.id == row[4])
                        .values(
                            vector=vector,
                            content_hash=row.content_hash,
                            model_version=encoder.version,
                            created_at=now,
                        )
                    )
                    report.refreshed += 1
            report.embedded += insert_ignore(session, Embedding.__table__, fresh)  # type: ignore[arg-type]
        report.batches += 1
        done = min(start + size, len(todo))
        log.info(
            "embed progress",
            extra={
                "done": done,
                "of": len(todo),
                "model": model,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        if progress is not None:
            progress(done, len(todo))
    return report


def _check_dimension(engine: Engine, model: str, dim: int) -> None:
    """Refuse vectors of another length than the model's stored ones: the cluster stage
    compares one model's vectors with each other, so they must share a dimension. One stored
    row tells, since this check has kept them all alike."""
    with session_scope(engine) as session:
        stored = session.scalar(select(Embedding.dim).where(Embedding.model == model).limit(1))
    if stored is not None and stored != dim:
        raise ModelError(
            f"model {model!r} gives {dim}-dimensional vectors, but its stored vectors have "
            f"{stored}: the name now loads another model; give the new one its own "
            "STORYLINE_MODEL_NAME (a path or hub id), or delete the old vectors "
            f"(DELETE FROM embeddings WHERE model = '{model}') and embed again"
        )

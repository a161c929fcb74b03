"""Embed stage: a vector per article and model, computed once, recomputed when the text changes."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import Engine, Row, select, update

from models import Article, Embedding
from models.types import FloatArray
from pipeline.db import insert_ignore, session_scope
from pipeline.embed.backends import Embedder, settings_embedder
from pipeline.embed.selection import needing_embedding
from pipeline.errors import ModelError
from pipeline.progress import Progress
from pipeline.settings import Settings
from pipeline.stopping import StopFlag
from pipeline.text import embedding_texts
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
    stop: StopFlag | None = None,
) -> EmbedReport:
    """Embed every article that has no current vector for the configured model.

    One transaction per batch: an interrupted run keeps finished batches and a rerun
    embeds only what is still missing. ``article_ids`` limits the run to those articles
    (a scheduler hands batches of them to separate workers; ``pipeline.batches``). A
    ``stop`` asked for is honoured after the model is loaded and after each batch.
    """
    model = settings.model_name
    stop = stop or StopFlag()
    todo = _articles_to_embed(engine, model, article_ids)
    report = EmbedReport()
    if not todo:
        return report

    encoder = embedder or settings_embedder(settings)
    stop.check(f"0 of {len(todo)} articles embedded")
    started = time.perf_counter()
    _check_dimension(engine, model, encoder.dim)
    ensure_vector_indexes(engine, encoder.dim)
    ordered = _in_length_order(todo, settings.embed_text_chars)
    size = settings.embed_batch_size
    for start in range(0, len(ordered), size):
        batch = ordered[start : start + size]
        encoded = encoder.encode([text for _, texts in batch for text in texts])
        vectors = blend(encoded, [len(texts) for _, texts in batch], settings.lede_weight)
        inserted, refreshed = _store(engine, model, encoder.version, batch, vectors)
        report.embedded += inserted
        report.refreshed += refreshed
        report.batches += 1
        done = min(start + size, len(ordered))
        log.info(
            "embed progress",
            extra={
                "done": done,
                "of": len(ordered),
                "model": model,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        if progress is not None:
            progress(done, len(ordered))
        stop.check(f"{done} of {len(todo)} articles embedded")
    return report


ArticleRow = Row[int, str, str, str | None, str, int | None]
"""An article to embed: id, title, the feed's summary, the page's body (None when it has
none), the hash of the text read, and ``embedding_id``, its stale vector's row (None when it
has none)."""


def _articles_to_embed(
    engine: Engine, model: str, article_ids: Collection[int] | None
) -> list[ArticleRow]:
    """The articles needing a vector for ``model`` (of ``article_ids``, if given), by id."""
    query = needing_embedding(
        select(
            Article.id,
            Article.title,
            Article.summary,
            Article.body,
            Article.read_hash,
            Embedding.id.label("embedding_id"),
        ),
        model,
    )
    if article_ids is not None:
        query = query.where(Article.id.in_(list(article_ids)))
    with session_scope(engine) as session:
        return list(session.execute(query).all())


def _in_length_order(
    rows: list[ArticleRow], chars: int
) -> list[tuple[ArticleRow, tuple[str] | tuple[str, str]]]:
    """Each article with the texts to embed (``embedding_texts``), shortest first (then by
    id).

    Like lengths in each batch: the model pads every text of a batch to its longest, and
    sentence-transformers sorts only within one call.
    """
    texts = [(row, embedding_texts(row.title, row.summary, row.body, chars)) for row in rows]
    return sorted(texts, key=lambda pair: (len(pair[1][0]), pair[0].id))


def blend(vectors: FloatArray, counts: list[int], lede_weight: float) -> FloatArray:
    """One unit vector per article from its texts' ``vectors`` (``counts`` of them each, in
    order): the text's alone, or the text's plus ``lede_weight`` times the lede's."""
    out = np.empty((len(counts), vectors.shape[1]), dtype=vectors.dtype)
    at = 0
    for index, count in enumerate(counts):
        vector = vectors[at] if count == 1 else vectors[at] + lede_weight * vectors[at + 1]
        out[index] = vector / (np.linalg.norm(vector) or 1.0)
        at += count
    return out


def _store(
    engine: Engine,
    model: str,
    version: str,
    batch: list[tuple[ArticleRow, tuple[str] | tuple[str, str]]],
    vectors: FloatArray,
) -> tuple[int, int]:
    """Write one batch's vectors in one transaction: insert the new ones, overwrite the stale.

    Returns how many were inserted (not those a concurrent run stored first) and overwritten.
    """
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        fresh: list[dict[str, object]] = []
        refreshed = 0
        for (row, _), vector in zip(batch, vectors, strict=True):
            if row.embedding_id is None:
                fresh.append(
                    {
                        "article_id": row.id,
                        "model": model,
                        "model_version": version,
                        "dim": int(vector.shape[0]),
                        "vector": vector,
                        "content_hash": row.read_hash,
                        "created_at": now,
                    }
                )
            else:
                session.execute(
                    update(Embedding)
                    .where(Embedding.id == row.embedding_id)
                    .values(
                        vector=vector,
                        content_hash=row.read_hash,
                        model_version=version,
                        created_at=now,
                    )
                )
                refreshed += 1
        inserted = insert_ignore(session, Embedding.__table__, fresh)  # type: ignore[arg-type]
    return inserted, refreshed


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

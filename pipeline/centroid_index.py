"""The HNSW indexes on story centroids, one per vector dimension (PostgreSQL with pgvector).

``stories.centroid`` holds vectors of whatever dimension the model gives (migration 0009).
pgvector builds HNSW only over one dimension, so each has a partial expression index,
``ix_stories_centroid_hnsw_<dim>`` on ``(centroid::vector(<dim>)) vector_cosine_ops`` where
``vector_dims(centroid) = <dim>``. A query uses it only when it orders by the same cast
(``centroid_distance``) and filters on the same predicate (``of_dimension``); the predicate
also keeps centroids of another dimension (another model's) out of the comparison, on both
backends.

Migration 0009 creates the index of the default model's 384 dimensions. The embed stage calls
``ensure_centroid_index`` before it stores the first vectors of a model: when the model is
new, no story has a centroid of its dimension yet, so the index is built over no row and
the cluster stage finds it in place from its first run. (The build takes a share lock on
``stories`` for that moment: it waits for a cluster run's write to commit, and holds the
next one back as briefly.) Creating it in the migration is not possible, since the
dimensions to come are not known there; creating it in the cluster stage would build it
under the stories lock, over rows already written.
"""

from __future__ import annotations

import logging

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import ColumnElement, Engine, Float, Integer, cast, literal_column, text

from models import CENTROID_INDEX_PREFIX, Story
from models.types import FloatArray, vector_dims
from pipeline.locks import advisory_key

log = logging.getLogger(__name__)

HNSW_MAX_DIMENSIONS = 2000
"""The most dimensions pgvector's HNSW indexes a ``vector`` over; larger centroids are
scanned."""


def centroid_index_name(dim: int) -> str:
    return f"{CENTROID_INDEX_PREFIX}{dim}"


def of_dimension(dim: int) -> ColumnElement[bool]:
    """Stories whose centroid has ``dim`` dimensions: the partial index's predicate, with
    the dimension as a literal, as the planner must see it to prove the index applies."""
    return vector_dims(Story.centroid) == literal_column(str(int(dim)), Integer)


def centroid_distance(wanted: FloatArray) -> ColumnElement[float]:
    """pgvector's cosine distance of the centroid to ``wanted``, over the centroid cast to
    ``wanted``'s dimension: the expression the index of that dimension holds. PostgreSQL
    only; use it with ``of_dimension``, or a centroid of another length fails the cast."""
    dim = int(np.asarray(wanted).shape[-1])
    return cast(Story.centroid, Vector(dim)).op("<=>", return_type=Float)(wanted)


def ensure_centroid_index(engine: Engine, dim: int) -> bool:
    """Create the HNSW index for centroids of ``dim`` dimensions unless it exists (PostgreSQL
    only); whether this call created it."""
    if engine.dialect.name != "postgresql":
        return False
    name = centroid_index_name(dim)
    if dim > HNSW_MAX_DIMENSIONS:
        log.warning(
            "no centroid index for this dimension: pgvector's HNSW takes at most 2,000; "
            "nearest stories are found by a sequential scan",
            extra={"dimensions": dim},
        )
        return False
    with engine.connect() as conn:
        if conn.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
            return False
    with engine.begin() as conn:
        # Embed tasks of a new model start side by side: one builds, the others wait here and
        # find it built (two bare CREATE INDEX IF NOT EXISTS can collide on the name).
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(name)})
        if conn.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
            return False
        conn.execute(
            text(
                f"CREATE INDEX {name} ON stories "
                f"USING hnsw ((centroid::vector({dim})) vector_cosine_ops) "
                f"WHERE vector_dims(centroid) = {dim}"
            )
        )
    log.info("centroid index created", extra={"index": name, "dimensions": dim})
    return True

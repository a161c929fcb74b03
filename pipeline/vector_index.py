"""The HNSW indexes on stored vectors, one per vector dimension (PostgreSQL with pgvector).

``stories.centroid`` and ``embeddings.vector`` hold vectors of whatever dimension the model
gives (migration 0009). pgvector builds HNSW only over one dimension, so each column has a
partial expression index per dimension: ``ix_stories_centroid_hnsw_<dim>`` on
``(centroid::vector(<dim>)) vector_cosine_ops`` where ``vector_dims(centroid) = <dim>``, and
``ix_embeddings_vector_hnsw_<dim>`` likewise on ``vector``. A query uses one only when it
orders by the same cast (``cosine_distance``) and filters on the same predicate
(``of_dimension``); the predicate also keeps vectors of another dimension (another model's)
out of the comparison, on both backends.

- Story centroids: the cluster stage asks for the older stories near a cluster or a lone
  article (``stage._older_near``), the API for related stories.
- Article vectors: the cluster stage asks for the older articles no story holds near a lone
  article (``stage._older_lonely``).

Migrations 0009 and 0010 create the indexes of the default model's 384 dimensions. The embed
stage calls ``ensure_vector_indexes`` before it stores the first vectors of a model: when the
model is new, nothing has its dimension yet, so each index is built over no row and the
cluster stage finds it in place from its first run. (A build takes a share lock on its table
for that moment.) Creating them in a migration is not possible, since the dimensions to come
are not known there; creating them in the cluster stage would build them under the stories
lock, over rows already written.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pgvector.sqlalchemy import Vector
from sqlalchemy import ColumnElement, Engine, Float, Integer, cast, literal_column, text

from models import VECTOR_INDEXES
from models.types import FloatArray, vector_dims
from pipeline.locks import advisory_key

log = logging.getLogger(__name__)

HNSW_MAX_DIMENSIONS = 2000
"""The most dimensions pgvector's HNSW indexes a ``vector`` over; longer vectors are
scanned."""


def index_name(table: str, column: str, dim: int) -> str:
    """``ix_<table>_<column>_hnsw_<dim>``."""
    return f"ix_{table}_{column}_hnsw_{dim}"


def of_dimension(column: Any, dim: int) -> ColumnElement[bool]:
    """Rows whose vector in ``column`` has ``dim`` dimensions: the partial index's
    predicate, with the dimension as a literal, as the planner must see it to prove the
    index applies."""
    return vector_dims(column) == literal_column(str(int(dim)), Integer)


def cosine_distance(column: Any, wanted: FloatArray) -> ColumnElement[float]:
    """pgvector's cosine distance of ``column`` to ``wanted``, over the column cast to
    ``wanted``'s dimension: the expression the index of that dimension holds. PostgreSQL
    only; use it with ``of_dimension``, or a vector of another length fails the cast."""
    dim = int(np.asarray(wanted).shape[-1])
    return cast(column, Vector(dim)).op("<=>", return_type=Float)(wanted)


def ensure_vector_indexes(engine: Engine, dim: int) -> list[str]:
    """Create the HNSW indexes for vectors of ``dim`` dimensions that do not exist
    (PostgreSQL only); the names of those this call created."""
    if engine.dialect.name != "postgresql":
        return []
    if dim > HNSW_MAX_DIMENSIONS:
        log.warning(
            "no vector index for this dimension: pgvector's HNSW takes at most 2,000; "
            "nearest stories and articles are found by a sequential scan",
            extra={"dimensions": dim},
        )
        return []
    created = []
    for table, column in VECTOR_INDEXES:
        name = index_name(table, column, dim)
        with engine.connect() as conn:
            if conn.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
                continue
        with engine.begin() as conn:
            # Embed tasks of a new model start side by side: one builds, the others wait
            # here and find it built (two bare CREATE INDEX IF NOT EXISTS can collide on the
            # name).
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(name)})
            if conn.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
                continue
            conn.execute(text(create_index_sql(table, column, dim)))
        log.info("vector index created", extra={"index": name, "dimensions": dim})
        created.append(name)
    return created


def create_index_sql(table: str, column: str, dim: int) -> str:
    """The ``CREATE INDEX`` of ``table.column``'s HNSW index for ``dim`` dimensions."""
    return (
        f"CREATE INDEX IF NOT EXISTS {index_name(table, column, dim)} ON {table} "
        f"USING hnsw (({column}::vector({dim})) vector_cosine_ops) "
        f"WHERE vector_dims({column}) = {dim}"
    )

"""The HNSW indexes on stored vectors, one per vector dimension (PostgreSQL with pgvector).

``stories.centroid`` and ``embeddings.vector`` hold vectors of whatever dimension the model
gives (migration 0009). pgvector builds HNSW only over one dimension, so each column has a
partial expression index per dimension: ``ix_stories_centroid_hnsw_<dim>`` on
``(centroid::vector(<dim>)) vector_cosine_ops`` where ``vector_dims(centroid) = <dim>``, and
``ix_embeddings_vector_hnsw_<dim>`` likewise on ``vector``. A query uses one only when it
orders by the same cast (``cosine_distance``) and filters on the same predicate
(``of_dimension``); the predicate also keeps vectors of another dimension (another model's)
out of the comparison, on both backends.

Every nearest-vector search goes through ``nearest``, the one place that tells the two
backends apart for it (PostgreSQL asks the index; SQLite scans in batches):

- Story centroids: the cluster stage asks for the older stories near a cluster or a lone
  article (``stories.state.older_near``), the API for related stories
  (``serve.queries.related_stories``).
- Article vectors: the cluster stage asks for the older articles no story holds near a lone
  article (``stories.state.older_lonely``).

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
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    ColumnElement,
    Engine,
    Float,
    Integer,
    Row,
    Select,
    cast,
    literal_column,
    text,
)
from sqlalchemy.orm import Session

from models import VECTOR_INDEXES
from models.types import FloatArray, vector_dims
from pipeline.db import unbounded_statements
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
        # Building the index grows with the table, and the others wait for it: neither
        # the statement nor the lock timeout applies.
        with engine.begin() as conn, unbounded_statements(conn, locks=True):
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


HNSW_EF_SEARCH = 100
"""Candidates the HNSW index keeps while searching (pgvector's ``hnsw.ef_search``; its
default 40 missed a quarter of the close stories at 100,000 stories in ``bench.older``;
100 costs about 25 % more)."""
SCAN_BATCH = 5000
"""Rows compared at once where there is no index: memory stays bounded (5,000 vectors of
384 float32 are 7 MB, of 768 15 MB)."""
READ_CHUNK = 1000
"""Keys read back at once after an index search, so no statement binds an unbounded list."""

IterativeScan = Literal["off", "relaxed_order", "strict_order"]


@dataclass(frozen=True)
class Hit:
    """A row near the wanted vectors, and its best cosine similarity to any of them."""

    row: Row[*tuple[Any, ...]]
    similarity: float


def nearest(
    session: Session,
    query: Select[*tuple[Any, ...]],
    wanted: npt.NDArray[np.floating[Any]],
    *,
    candidates: int,
    least: float | None = None,
    top: int | None = None,
    iterative: IterativeScan = "off",
) -> list[Hit]:
    """The rows of ``query`` whose vector is near some row of ``wanted``: the one
    nearest-vector search of the project, for every caller with its own filters.

    ``query`` selects a row's key first (an integer id), then the vector column searched,
    then anything else; it may join and filter. Only vectors of ``wanted``'s dimension are
    compared (``of_dimension``: another length is another model's). A hit's similarity
    is its best cosine to any wanted vector; hits below ``least`` are dropped; ``top`` keeps
    the best ``top`` (ties to the lower key). Hits come in key order, or best first with
    ``top``.

    - PostgreSQL asks the HNSW index of that dimension, once per wanted vector, for its
      ``candidates`` nearest keys with their distances (approximate; pgvector's float32
      cosine), then reads the rows of the keys that pass ``least``: most nearest rows are
      not close enough, and a key and a distance cost less to read than a vector.
      ``iterative`` is pgvector's ``hnsw.iterative_scan``: a filtered search walks on past
      the rows the filters drop (``relaxed_order``), or in exact distance order with ties
      broken by key (``strict_order``, for a page of results).
    - Elsewhere every row is scanned, ``SCAN_BATCH`` at a time: exact (numpy, float64),
      memory bounded, time linear in the rows.

    The two may differ by a rounding error (``tracking.SIMILARITY_TOLERANCE``): callers
    that decide on a threshold pass ``least`` below it and decide on their own numpy value.
    """
    dim = int(np.asarray(wanted).shape[-1])
    query = query.where(of_dimension(query.selected_columns[1], dim))
    if session.get_bind().dialect.name == "postgresql":
        hits = _index_search(session, query, wanted, candidates, least, iterative)
    else:
        hits = _scan(session, query, wanted, least, top)
    if top is not None:
        hits = sorted(hits, key=lambda hit: (-hit.similarity, hit.row[0]))[:top]
    return hits


def _index_search(
    session: Session,
    query: Select[*tuple[Any, ...]],
    wanted: npt.NDArray[np.floating[Any]],
    candidates: int,
    least: float | None,
    iterative: IterativeScan,
) -> list[Hit]:
    key, vector = query.selected_columns[0], query.selected_columns[1]
    session.execute(text(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, candidates)}"))
    session.execute(text(f"SET LOCAL hnsw.iterative_scan = {iterative}"))
    best: dict[int, float] = {}
    for one in np.atleast_2d(wanted):
        distance = cosine_distance(vector, one.astype(np.float32))
        order = (distance, key) if iterative == "strict_order" else (distance,)
        search = query.with_only_columns(key, distance).order_by(*order).limit(candidates)
        for found, apart in session.execute(search):
            similarity = 1.0 - float(apart)
            if (least is None or similarity >= least) and similarity > best.get(found, -2.0):
                best[found] = similarity
    keys = sorted(best)
    rows: list[Row[*tuple[Any, ...]]] = []
    for start in range(0, len(keys), READ_CHUNK):
        rows += session.execute(query.where(key.in_(keys[start : start + READ_CHUNK]))).all()
    return [Hit(row, best[row[0]]) for row in sorted(rows, key=lambda row: row[0])]


def _scan(
    session: Session,
    query: Select[*tuple[Any, ...]],
    wanted: npt.NDArray[np.floating[Any]],
    least: float | None,
    top: int | None,
) -> list[Hit]:
    targets = np.atleast_2d(np.asarray(wanted, dtype=np.float64))
    targets = targets / np.where(
        (norms := np.linalg.norm(targets, axis=1, keepdims=True)) == 0, 1.0, norms
    )
    hits: list[Hit] = []
    for batch in session.execute(query.execution_options(yield_per=SCAN_BATCH)).partitions():
        vectors = np.stack([np.asarray(row[1]) for row in batch]).astype(np.float64)
        lengths = np.linalg.norm(vectors, axis=1)
        similarities = (targets @ vectors.T / np.where(lengths == 0, 1.0, lengths)).max(axis=0)
        hits += [
            Hit(row, similarity)
            for row, similarity in zip(batch, similarities.tolist(), strict=True)
            if least is None or similarity >= least
        ]
        if top is not None:
            # Keep memory bounded on a large table: only the best ``top`` so far.
            hits = sorted(hits, key=lambda hit: (-hit.similarity, hit.row[0]))[:top]
    return sorted(hits, key=lambda hit: hit.row[0]) if top is None else hits

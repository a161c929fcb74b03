"""Column types that behave the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pgvector.sqlalchemy import Vector
from sqlalchemy import DateTime, Integer, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator, TypeEngine

FloatArray = npt.NDArray[np.float32]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes in, aware UTC datetimes out, on every backend.

    SQLite has no time zone type, so values are stored as naive UTC and re-tagged on
    the way out; PostgreSQL gets ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Storyline stores UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EmbeddingVector(TypeDecorator[FloatArray]):
    """A float32 vector of any length: pgvector ``vector`` on PostgreSQL, a raw float32 blob
    elsewhere.

    The length follows the model that made it (migration 0009). ``dim`` fixes it, as
    ``vector(dim)``, for the migrations that created the columns when every vector had 384.
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Vector(self.dim))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: FloatArray | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32).reshape(-1)
        if self.dim is not None and array.shape[0] != self.dim:
            raise ValueError(
                f"vector of dimension {array.shape[0]} does not fit a vector({self.dim}) column"
            )
        return array if dialect.name == "postgresql" else array.tobytes()

    def process_result_value(self, value: Any, dialect: Dialect) -> FloatArray | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return np.frombuffer(bytes(value), dtype=np.float32).copy()
        return np.asarray(value, dtype=np.float32)


class vector_dims(GenericFunction[int]):  # noqa: N801 (named for the SQL function)
    """The number of dimensions of an ``EmbeddingVector`` value, in SQL on every backend:
    pgvector's ``vector_dims`` on PostgreSQL, the blob's length over 4 bytes elsewhere."""

    type = Integer()
    inherit_cache = True


@compiles(vector_dims, "sqlite")
def _sqlite_vector_dims(element: vector_dims, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(length({compiler.process(element.clauses, **kw)}) / 4)"

"""Vectors of any dimension: the model is a setting, so the columns take the length it gives.

Until now ``embeddings.vector`` and ``stories.centroid`` were pgvector ``vector(384)``, the
dimension of the default all-MiniLM-L6-v2: naming all-mpnet-base-v2 (768) or any other
sentence-transformers model of another size failed at the first insert. On PostgreSQL both
columns become dimensionless ``vector``. The typmod is only a check, so no row is rewritten.

pgvector builds an HNSW index only over vectors of one dimension ("column does not have
dimensions"), but it can index an expression, and a partial index can hold the rows of one
dimension alone (pgvector's FAQ, "Can I store vectors with different dimensions in the same
column?"). So 0005's index on ``centroid`` makes way for one per dimension::

    CREATE INDEX ix_stories_centroid_hnsw_384 ON stories
        USING hnsw ((centroid::vector(384)) vector_cosine_ops)
        WHERE vector_dims(centroid) = 384

A query uses it only when it orders by that cast and filters on that predicate (the cluster
stage's ``_older_near``, the API's related stories; ``pipeline/vector_index.py``). This
migration creates the index of the default model's 384 dimensions; the embed stage creates
the index of another dimension, if it does not exist, the first time it embeds with a model
of that dimension (``ensure_vector_indexes``), before any story has such a centroid.

SQLite keeps vectors as float32 blobs of any length: nothing to change there.

Downgrade: back to ``vector(384)`` and 0005's index, which holds only while every stored
vector has 384 dimensions; with any other it stops, before changing anything, and says how
many there are and of which models.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DIM = 384
"""The dimension of every vector before this migration (0001), and of the default model."""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # An index on centroid would be rebuilt by the type change, and cannot be built without
    # dimensions: drop it first.
    op.execute("DROP INDEX IF EXISTS ix_stories_centroid_hnsw")
    op.execute("ALTER TABLE embeddings ALTER COLUMN vector TYPE vector")
    op.execute("ALTER TABLE stories ALTER COLUMN centroid TYPE vector")
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_stories_centroid_hnsw_{DIM} ON stories "
        f"USING hnsw ((centroid::vector({DIM})) vector_cosine_ops) "
        f"WHERE vector_dims(centroid) = {DIM}"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    other = bind.execute(
        sa.text(
            "SELECT what, model, vector_dims(v) AS dims, count(*) AS n FROM ("
            "  SELECT 'embeddings' AS what, model, vector AS v FROM embeddings"
            "  UNION ALL SELECT 'story centroids', model, centroid FROM stories"
            ") AS stored WHERE v IS NOT NULL AND vector_dims(v) <> :dim "
            "GROUP BY what, model, dims ORDER BY what, model, dims"
        ),
        {"dim": DIM},
    ).all()
    if other:
        found = "; ".join(f"{row.n} {row.what} of {row.model!r} ({row.dims}-d)" for row in other)
        raise RuntimeError(
            f"cannot downgrade below 0009: the columns would be vector({DIM}) again, but the "
            f"database holds vectors of other dimensions: {found}; delete them first "
            "(DELETE FROM embeddings WHERE model = ...; its stories too) or stay on 0009"
        )
    indexes = bind.scalars(
        sa.text(
            "SELECT indexname FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = 'stories' "
            "AND indexname LIKE 'ix\\_stories\\_centroid\\_hnsw\\_%'"
        )
    ).all()
    for name in indexes:
        op.execute(f'DROP INDEX IF EXISTS "{name}"')
    op.execute(f"ALTER TABLE embeddings ALTER COLUMN vector TYPE vector({DIM})")
    op.execute(f"ALTER TABLE stories ALTER COLUMN centroid TYPE vector({DIM})")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_stories_centroid_hnsw "
        "ON stories USING hnsw (centroid vector_cosine_ops)"
    )

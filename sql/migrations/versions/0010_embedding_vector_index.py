"""An HNSW index on article vectors, one per dimension (PostgreSQL with pgvector only).

A lone article of the window may pair with an older article that no story holds
(``stage._older_lonely``). Articles far outnumber stories and never expire before
retention, so on PostgreSQL each lone article asks this index for its nearest older
articles instead of the stage reading every vector: the same partial expression index per
dimension as the story centroids' (migration 0009, ``pipeline/vector_index.py``)::

    CREATE INDEX ix_embeddings_vector_hnsw_384 ON embeddings
        USING hnsw ((vector::vector(384)) vector_cosine_ops)
        WHERE vector_dims(vector) = 384

The build reads every stored 384-d vector: on a large database it takes minutes (pgvector
builds in memory up to ``maintenance_work_mem``), and it holds a share lock on
``embeddings`` meanwhile, so embed runs wait. The embed stage creates the index of another
dimension the first time it embeds with such a model.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DIM = 384


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ix_embeddings_vector_hnsw_{DIM} ON embeddings "
        f"USING hnsw ((vector::vector({DIM})) vector_cosine_ops) "
        f"WHERE vector_dims(vector) = {DIM}"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    indexes = bind.scalars(
        sa.text(
            "SELECT indexname FROM pg_indexes "
            "WHERE schemaname = current_schema() AND tablename = 'embeddings' "
            "AND indexname LIKE 'ix\\_embeddings\\_vector\\_hnsw\\_%'"
        )
    ).all()
    for name in indexes:
        op.execute(f'DROP INDEX IF EXISTS "{name}"')

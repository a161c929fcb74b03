"""An HNSW index on story centroids (PostgreSQL with pgvector only).

The cluster stage asks it for the older stories nearest each new cluster, so matching does
not load every story ever made; analysts use it for "stories similar to this one".

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_stories_centroid_hnsw "
        "ON stories USING hnsw (centroid vector_cosine_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_stories_centroid_hnsw")

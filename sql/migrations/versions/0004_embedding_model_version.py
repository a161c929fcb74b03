"""Record the version of the model (and library) that made each vector.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("embeddings") as batch:
        batch.add_column(sa.Column("model_version", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("embeddings") as batch:
        batch.drop_column("model_version")

"""Feed fetch schedule and health, entry identity mode, article updates and syndicated copies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("fetch_url", sa.Text))
        batch.add_column(sa.Column("next_check_at", UTCDateTime))
        batch.add_column(sa.Column("retry_after_until", UTCDateTime))
        batch.add_column(sa.Column("disabled_reason", sa.Text))
        batch.add_column(sa.Column("last_error_at", UTCDateTime))
        batch.add_column(
            sa.Column("identity", sa.String(10), nullable=False, server_default="guid")
        )
        batch.add_column(sa.Column("publish_interval_seconds", sa.Float))
        batch.create_index("ix_feeds_next_check_at", ["next_check_at"])
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("updated_at", UTCDateTime))
        batch.add_column(
            sa.Column(
                "duplicate_of_id",
                sa.Integer,
                sa.ForeignKey(
                    "articles.id",
                    name="fk_articles_duplicate_of_id_articles",
                    ondelete="SET NULL",
                ),
            )
        )
        batch.add_column(sa.Column("minhash", sa.LargeBinary))
        batch.create_index("ix_articles_duplicate_of_id", ["duplicate_of_id"])
        batch.create_index("ix_articles_feed_id_content_hash", ["feed_id", "content_hash"])
    with op.batch_alter_table("stories") as batch:
        batch.add_column(
            sa.Column("original_count", sa.Integer, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("original_count")
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_feed_id_content_hash")
        batch.drop_index("ix_articles_duplicate_of_id")
        batch.drop_column("minhash")
        batch.drop_column("duplicate_of_id")
        batch.drop_column("updated_at")
    with op.batch_alter_table("feeds") as batch:
        batch.drop_index("ix_feeds_next_check_at")
        for column in (
            "publish_interval_seconds",
            "identity",
            "last_error_at",
            "disabled_reason",
            "retry_after_until",
            "next_check_at",
            "fetch_url",
        ):
            batch.drop_column(column)

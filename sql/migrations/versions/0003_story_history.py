"""Story lineage events, keywords, merge pointer, and hourly timeline.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stories") as batch:
        batch.add_column(sa.Column("keywords", sa.JSON, nullable=False, server_default="[]"))
        batch.add_column(
            sa.Column(
                "merged_into_id",
                sa.Integer,
                sa.ForeignKey("stories.id", name="fk_stories_merged_into_id_stories"),
            )
        )
    op.create_table(
        "story_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "story_id",
            sa.Integer,
            sa.ForeignKey(
                "stories.id", name="fk_story_events_story_id_stories", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("cluster_runs.id", name="fk_story_events_run_id_cluster_runs"),
        ),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column(
            "other_story_id",
            sa.Integer,
            sa.ForeignKey("stories.id", name="fk_story_events_other_story_id_stories"),
        ),
        sa.Column("article_count", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_story_events"),
    )
    op.create_index("ix_story_events_story_id_at", "story_events", ["story_id", "at"])
    op.create_table(
        "story_hours",
        sa.Column(
            "story_id",
            sa.Integer,
            sa.ForeignKey("stories.id", name="fk_story_hours_story_id_stories", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("hour", UTCDateTime, nullable=False),
        sa.Column("article_count", sa.Integer, nullable=False),
        sa.Column("outlet_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("story_id", "hour", name="pk_story_hours"),
    )


def downgrade() -> None:
    op.drop_table("story_hours")
    op.drop_index("ix_story_events_story_id_at", "story_events")
    op.drop_table("story_events")
    with op.batch_alter_table("stories") as batch:
        batch.drop_column("merged_into_id")
        batch.drop_column("keywords")

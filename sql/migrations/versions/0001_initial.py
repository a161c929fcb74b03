"""Initial schema: feeds, articles, embeddings, stories, membership, cluster runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import EmbeddingVector, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DIM = 384


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS vector")

    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("outlet", sa.String(200), nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("last_fetched_at", UTCDateTime),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("error_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_feeds"),
        sa.UniqueConstraint("name", name="uq_feeds_name"),
    )
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "feed_id",
            sa.Integer,
            sa.ForeignKey("feeds.id", name="fk_articles_feed_id_feeds", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("guid", sa.Text, nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False, server_default=""),
        sa.Column("published_at", UTCDateTime, nullable=False),
        sa.Column("published_estimated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("fetched_at", UTCDateTime, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_articles"),
        sa.UniqueConstraint("feed_id", "guid", name="uq_articles_feed_id_guid"),
        sa.UniqueConstraint("url", name="uq_articles_url"),
    )
    op.create_index("ix_articles_published_at", "articles", ["published_at"])
    op.create_table(
        "embeddings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "article_id",
            sa.Integer,
            sa.ForeignKey(
                "articles.id", name="fk_embeddings_article_id_articles", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("vector", EmbeddingVector(DIM), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_embeddings"),
        sa.UniqueConstraint("article_id", "model", name="uq_embeddings_article_id_model"),
    )
    op.create_table(
        "cluster_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("now", UTCDateTime, nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="running"),
        sa.Column("article_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cluster_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("noise_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("stories_created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("stories_changed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cluster_runs"),
    )
    op.create_table(
        "stories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("article_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("source_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("centroid", EmbeddingVector(DIM)),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column(
            "created_run_id",
            sa.Integer,
            sa.ForeignKey("cluster_runs.id", name="fk_stories_created_run_id_cluster_runs"),
        ),
        sa.Column(
            "updated_run_id",
            sa.Integer,
            sa.ForeignKey("cluster_runs.id", name="fk_stories_updated_run_id_cluster_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_stories"),
    )
    op.create_index("ix_stories_status_last_seen", "stories", ["status", "last_seen"])
    op.create_table(
        "story_articles",
        sa.Column(
            "article_id",
            sa.Integer,
            sa.ForeignKey(
                "articles.id", name="fk_story_articles_article_id_articles", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column(
            "story_id",
            sa.Integer,
            sa.ForeignKey(
                "stories.id", name="fk_story_articles_story_id_stories", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey("cluster_runs.id", name="fk_story_articles_run_id_cluster_runs"),
        ),
        sa.PrimaryKeyConstraint("article_id", name="pk_story_articles"),
    )
    op.create_index("ix_story_articles_story_id", "story_articles", ["story_id"])


def downgrade() -> None:
    op.drop_table("story_articles")
    op.drop_table("stories")
    op.drop_table("cluster_runs")
    op.drop_table("embeddings")
    op.drop_table("articles")
    op.drop_table("feeds")

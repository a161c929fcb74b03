"""Each story's summary: two or three sentences of its own articles, in order.

A table, not a JSON column of ``stories``: an analyst joins a sentence to its article, outlet
and link in plain SQL on both backends (no JSON functions, which differ), and a deleted
article takes its sentence with it. The view ``story_summary_sentences`` does that join.
Stories that exist before this migration get their summary on the next ``storyline
cluster`` (its backfill of live stories without one, ``pipeline/stories/write.py``).

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

VIEW = """
    SELECT ss.story_id, ss.position, ss.sentence, ss.article_id,
           f.outlet, a.url, a.published_at
    FROM story_sentences AS ss
    JOIN articles AS a ON a.id = ss.article_id
    JOIN feeds AS f ON f.id = a.feed_id
"""
"""The same SQL on both backends: no clock, no JSON, no timestamp arithmetic."""


def upgrade() -> None:
    op.create_table(
        "story_sentences",
        sa.Column("story_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.Column("sentence", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name="fk_story_sentences_story_id_stories",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_story_sentences_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("story_id", "position", name="pk_story_sentences"),
    )
    op.create_index("ix_story_sentences_article_id", "story_sentences", ["article_id"])
    op.execute(f"CREATE VIEW story_summary_sentences AS {VIEW}")


def downgrade() -> None:
    op.execute("DROP VIEW story_summary_sentences")
    op.drop_index("ix_story_sentences_article_id", table_name="story_sentences")
    op.drop_table("story_sentences")

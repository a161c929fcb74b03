"""People, places and organisations: ``entities``, which articles name them
(``article_entities``), which text was read for them (``entity_readings``), and two analyst
views on both backends: ``story_entities`` (a story's entities, ranked within each kind) and
``entity_stories`` (the stories that name an entity, with their first and last article).

The views' SQL is the same on PostgreSQL and SQLite (3.25 or newer: ``row_number() OVER``).
Documented with example queries in sql/README.md.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

VIEWS = {
    "story_entities": """
        SELECT sa.story_id, e.id AS entity_id, e.kind, e.name,
               count(*) AS articles, count(DISTINCT f.outlet) AS outlets,
               sum(ae.mentions) AS mentions,
               sum(CASE WHEN ae.in_title THEN 1 ELSE 0 END) AS in_titles,
               row_number() OVER (
                   PARTITION BY sa.story_id, e.kind
                   ORDER BY count(*) DESC, count(DISTINCT f.outlet) DESC,
                            sum(ae.mentions) DESC, e.name, e.id
               ) AS rank
        FROM story_articles AS sa
        JOIN article_entities AS ae ON ae.article_id = sa.article_id
        JOIN entities AS e ON e.id = ae.entity_id
        JOIN articles AS a ON a.id = sa.article_id
        JOIN feeds AS f ON f.id = a.feed_id
        GROUP BY sa.story_id, e.id, e.kind, e.name
    """,
    "entity_stories": """
        SELECT e.id AS entity_id, e.kind, e.name, s.id AS story_id, s.title, s.status,
               count(*) AS articles,
               min(a.published_at) AS first_article_at,
               max(a.published_at) AS last_article_at
        FROM article_entities AS ae
        JOIN entities AS e ON e.id = ae.entity_id
        JOIN story_articles AS sa ON sa.article_id = ae.article_id
        JOIN stories AS s ON s.id = sa.story_id
        JOIN articles AS a ON a.id = ae.article_id
        GROUP BY e.id, e.kind, e.name, s.id, s.title, s.status
    """,
}


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entities"),
        sa.UniqueConstraint("kind", "key", name="uq_entities_kind_key"),
    )
    op.create_table(
        "article_entities",
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.Column("entity_id", sa.Integer, nullable=False),
        sa.Column("mentions", sa.Integer, nullable=False),
        sa.Column("in_title", sa.Boolean, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_article_entities_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"],
            ["entities.id"],
            name="fk_article_entities_entity_id_entities",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", "entity_id", name="pk_article_entities"),
    )
    op.create_index("ix_article_entities_entity_id", "article_entities", ["entity_id"])
    op.create_table(
        "entity_readings",
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.Column("read_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("read_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_entity_readings_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name="pk_entity_readings"),
    )
    for name, query in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {query}")


def downgrade() -> None:
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("entity_readings")
    op.drop_index("ix_article_entities_entity_id", table_name="article_entities")
    op.drop_table("article_entities")
    op.drop_table("entities")

"""Paragraphs that end more than one extracted body: a site's boilerplate.

The extract stage records the last paragraphs of a body that lie outside the lead's kind of
element (``Extraction.aside``), by digest; when a second article's body ends with one of
them, it is dropped from both (``pipeline/extract/shared.py``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_paragraphs",
        sa.Column("digest", sa.String(40), nullable=False),
        sa.Column("article_id", sa.Integer, nullable=True),
        sa.Column("shared", sa.Boolean, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name="fk_shared_paragraphs_article_id_articles",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("digest", name="pk_shared_paragraphs"),
    )
    op.create_index("ix_shared_paragraphs_article_id", "shared_paragraphs", ["article_id"])


def downgrade() -> None:
    op.drop_index("ix_shared_paragraphs_article_id", table_name="shared_paragraphs")
    op.drop_table("shared_paragraphs")

"""Full text from the article page: the extracted body and the extraction's state.

A feed that carries only a teaser (a headline and a sentence) gives the embedding and the
word checks little to read; the extract stage (``pipeline/extract/``) fetches the page an
article links to and keeps its body in ``articles.body``. ``text_hash`` is the hash of the
text then read (title and body): the embed stage re-embeds an article whose
``coalesce(text_hash, content_hash)`` differs from its vector's. ``extract_state`` is null
when no page is wanted, else ``pending``, ``ok``, ``kept`` (the page was read, the feed's
text kept: ``extract_reason`` says why), ``skipped`` (never to be fetched: robots, not
HTML, 404) or ``failed`` (attempts used up); ``extract_after`` holds a retry back.
``feeds.full_text`` is the registry's ``full_text: auto|always|never``.

Plain ``ADD COLUMN``s (no table rebuild on SQLite, where views read ``articles``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "feeds", sa.Column("full_text", sa.String(8), nullable=False, server_default="auto")
    )
    op.add_column("articles", sa.Column("body", sa.Text))
    op.add_column("articles", sa.Column("text_hash", sa.String(64)))
    op.add_column("articles", sa.Column("extract_state", sa.String(16)))
    op.add_column("articles", sa.Column("extract_reason", sa.String(200)))
    op.add_column(
        "articles",
        sa.Column("extract_attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.add_column("articles", sa.Column("extract_after", UTCDateTime))
    op.create_index("ix_articles_extract_state", "articles", ["extract_state"])


def downgrade() -> None:
    op.drop_index("ix_articles_extract_state", table_name="articles")
    # DROP COLUMN itself (SQLite >= 3.35): a batch rebuild of ``articles`` would break the
    # views that read it.
    for column in (
        "extract_after",
        "extract_attempts",
        "extract_reason",
        "extract_state",
        "text_hash",
        "body",
    ):
        op.execute(f"ALTER TABLE articles DROP COLUMN {column}")
    op.execute("ALTER TABLE feeds DROP COLUMN full_text")

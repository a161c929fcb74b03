"""Full-text search over the articles' titles and the text read, with each database's own
machinery (``pipeline/search.py`` asks it).

PostgreSQL: ``articles.search_vector``, a ``tsvector`` of ``simple`` words (no stemming, no
stop words: any language) of the title and the text read (``coalesce(body, summary)``),
lower case, without accents (the ``unaccent`` extension) and with the final sigma as sigma,
kept by a ``BEFORE INSERT OR UPDATE`` trigger and read through a GIN index.

A stored column kept by a trigger rather than an expression index or a generated column:
both of those need an IMMUTABLE expression, and ``unaccent()`` is only STABLE, rightly (its
rules file and dictionary can change). An IMMUTABLE wrapper would promise what is not true:
should the rules change, an index scan and a sequential scan would disagree on the same
query. A stored vector always agrees with its index; a change of rules is applied by
rewriting the column (``UPDATE articles SET title = title``). It also gives the planner a
cheap filter when it walks the newest articles first, instead of parsing whole bodies again.

SQLite: ``article_search``, a contentless FTS5 table (``unicode61 remove_diacritics 2``:
case, and Latin accents, folded; hyphens separate words), one row per article by its id,
kept in step by triggers on ``articles``. (SQLite 3.40, the oldest we support, has no
``contentless_delete``: the delete trigger hands back the old values, which the table needs
to unindex them.)

Both index at most the first 100,000 characters of the text (a tsvector holds at most 1 MB),
and both are filled here for the articles that exist.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MAX_CHARS = 100_000


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER articles_search_vector ON articles")
        op.execute("DROP FUNCTION storyline_article_search_vector()")
        op.execute("DROP INDEX ix_articles_search_vector")
        op.execute("ALTER TABLE articles DROP COLUMN search_vector")
        op.execute("DROP FUNCTION storyline_search_fold(text)")
        # The unaccent extension stays: something else may use it.
    else:
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER article_search_{trigger}")
        op.execute("DROP TABLE article_search")


def _upgrade_postgresql() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    # The dictionary by its schema: a trigger runs under the writer's search_path.
    schema = op.get_bind().scalar(
        text(
            "SELECT quote_ident(extnamespace::regnamespace::text) FROM pg_extension "
            "WHERE extname = 'unaccent'"
        )
    )
    op.execute(
        f"""
        CREATE FUNCTION storyline_search_fold(value text) RETURNS text
        LANGUAGE sql STABLE PARALLEL SAFE STRICT AS $$
            SELECT translate(lower({schema}.unaccent('{schema}.unaccent'::regdictionary, value)),
                             'ς', 'σ')  -- final sigma as sigma
        $$
        """  # noqa: RUF001 (Greek on purpose)
    )
    op.execute("ALTER TABLE articles ADD COLUMN search_vector tsvector")
    op.execute(
        f"""
        CREATE FUNCTION storyline_article_search_vector() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            NEW.search_vector := to_tsvector('pg_catalog.simple', storyline_search_fold(
                NEW.title || ' ' || left(coalesce(NEW.body, NEW.summary, ''), {MAX_CHARS})));
            RETURN NEW;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER articles_search_vector BEFORE INSERT OR UPDATE OF title, summary, body
        ON articles FOR EACH ROW EXECUTE FUNCTION storyline_article_search_vector()
        """
    )
    # Naming title in the SET list fires the trigger: every existing article gets its vector.
    op.execute("UPDATE articles SET title = title")
    op.execute("CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)")


def _upgrade_sqlite() -> None:
    op.execute(
        "CREATE VIRTUAL TABLE article_search USING fts5("
        "title, text, content='', tokenize='unicode61 remove_diacritics 2')"
    )
    new = f"new.id, new.title, substr(coalesce(new.body, new.summary), 1, {MAX_CHARS})"
    old = f"old.id, old.title, substr(coalesce(old.body, old.summary), 1, {MAX_CHARS})"
    insert = f"INSERT INTO article_search(rowid, title, text) VALUES ({new});"
    delete = (
        f"INSERT INTO article_search(article_search, rowid, title, text) VALUES ('delete', {old});"
    )
    op.execute(f"CREATE TRIGGER article_search_insert AFTER INSERT ON articles BEGIN {insert} END")
    op.execute(f"CREATE TRIGGER article_search_delete AFTER DELETE ON articles BEGIN {delete} END")
    op.execute(
        "CREATE TRIGGER article_search_update AFTER UPDATE OF title, summary, body ON articles "
        "WHEN old.title IS NOT new.title "
        "OR coalesce(old.body, old.summary) IS NOT coalesce(new.body, new.summary) "
        f"BEGIN {delete} {insert} END"
    )
    op.execute(
        "INSERT INTO article_search(rowid, title, text) "
        f"SELECT id, title, substr(coalesce(body, summary), 1, {MAX_CHARS}) FROM articles"
    )

"""The analyst views of 0006 on SQLite: the same six names and columns, in SQLite's SQL.

Read beside 0006 (PostgreSQL), which these follow clause by clause. What differs, and why
(sql/README.md, "What differs on SQLite", says it for the analyst):

- Timestamps are TEXT, naive UTC, as ``models.types.UTCDateTime`` has SQLAlchemy write
  them: ``YYYY-MM-DD HH:MM:SS.ffffff``, always six fraction digits. Text in that one format
  sorts as time, so ``>``, ``<=``, ``min`` and ``max`` compare instants, as on PostgreSQL.
  A bound such as "24 hours before the clock" must come out in the same format, or the
  comparison goes quietly wrong: SQLite's ``strftime('%f')`` writes three digits, and
  ``'12:00:00.000000' > '12:00:00.000'`` holds. So the whole seconds are shifted by
  ``datetime()`` and the clock's own fraction is appended unchanged. Shifting by whole
  hours leaves the fraction alone, and cutting it off first keeps ``datetime()`` from
  rounding ``:59.9996`` up into the next minute.
- ``pipeline_clock`` falls back to the wall clock in the stored format (UTC, the
  milliseconds SQLite has padded to six digits) where PostgreSQL uses ``now()``.
- ``growth`` is ``round(real, 2)``, a REAL: SQLite has no decimal type.
- ``keywords`` is the JSON list as text (the column's storage; SQLite has no JSON type).

SQLite 3.30 or newer: window functions (``rank() OVER``) and ``FILTER`` on aggregates.
A later migration that rebuilds one of the tables below in batch mode on SQLite must drop
these views first and create them again after: SQLite refuses to rename the rebuilt table
into place while a view names a table that is, at that moment, missing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

VIEWS = {
    "pipeline_clock": """
        SELECT COALESCE(max(run.now), strftime('%Y-%m-%d %H:%M:%f', 'now') || '000') AS at
        FROM cluster_runs AS run
        WHERE run.status = 'ok'
    """,
    "story_summary": """
        SELECT s.id AS story_id, s.title, s.keywords, s.status,
               s.article_count AS articles, s.source_count AS outlets,
               s.first_seen, s.last_seen,
               (SELECT count(*)
                  FROM story_articles AS sa
                  JOIN articles AS a ON a.id = sa.article_id
                 WHERE sa.story_id = s.id
                   AND a.published_at >
                       (datetime(substr(clock.at, 1, 19), '-24 hours') || substr(clock.at, 20))
                   AND a.published_at <= clock.at) AS articles_last_24h,
               s.merged_into_id
        FROM stories AS s CROSS JOIN pipeline_clock AS clock
    """,
    "story_timeline": """
        SELECT h.story_id, h.hour, h.article_count AS articles, h.outlet_count AS outlets
        FROM story_hours AS h
    """,
    "story_sources": """
        SELECT sa.story_id, f.outlet, count(*) AS articles,
               min(a.published_at) AS first_article_at,
               rank() OVER (PARTITION BY sa.story_id ORDER BY min(a.published_at))
                   AS arrival_rank
        FROM story_articles AS sa
        JOIN articles AS a ON a.id = sa.article_id
        JOIN feeds AS f ON f.id = a.feed_id
        GROUP BY sa.story_id, f.outlet
    """,
    "trending_stories": """
        WITH clock AS (
            SELECT at,
                   datetime(substr(at, 1, 19), '-6 hours') || substr(at, 20) AS at_minus_6h,
                   datetime(substr(at, 1, 19), '-54 hours') || substr(at, 20) AS at_minus_54h
            FROM pipeline_clock
        ), counts AS (
            SELECT h.story_id,
                   COALESCE(sum(h.article_count)
                       FILTER (WHERE h.hour > clock.at_minus_6h), 0)
                       AS recent,
                   COALESCE(sum(h.article_count)
                       FILTER (WHERE h.hour <= clock.at_minus_6h), 0)
                       AS earlier
            FROM story_hours AS h CROSS JOIN clock
            WHERE h.hour > clock.at_minus_54h AND h.hour <= clock.at
            GROUP BY h.story_id
        ), scored AS (
            SELECT c.story_id, c.recent, c.earlier,
                   (c.recent + 1.0) / (c.earlier / 8.0 + 1.0) AS growth
            FROM counts AS c
            WHERE c.recent > 0
        )
        SELECT rank() OVER (ORDER BY sc.growth DESC, sc.recent DESC, s.id) AS rank,
               s.id AS story_id, s.title, s.status,
               sc.recent AS articles_last_6h, sc.earlier AS articles_previous_48h,
               round(sc.growth, 2) AS growth,
               s.article_count AS articles, s.source_count AS outlets
        FROM scored AS sc JOIN stories AS s ON s.id = sc.story_id
        WHERE s.status = 'active'
    """,
    "story_history": """
        SELECT e.id AS event_id, e.at, e.story_id, s.title, e.kind,
               CASE e.kind
                   WHEN 'merged' THEN 'merged into'
                   WHEN 'split' THEN 'split from'
               END AS relation,
               e.other_story_id, other.title AS other_title,
               e.article_count, e.run_id
        FROM story_events AS e
        JOIN stories AS s ON s.id = e.story_id
        LEFT JOIN stories AS other ON other.id = e.other_story_id
    """,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # SQLite has no CREATE OR REPLACE VIEW; dropping first makes a rerun replace them too.
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for name, query in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {query}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")

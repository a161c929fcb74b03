"""Breaking that means it, who broke a story, and splits in the parent's history: three of
the analyst views of 0006 (PostgreSQL) and 0008 (SQLite) anew, on both backends.

- ``trending_stories`` lists only stories growing against their own pace: at least two
  articles in the last 6 hours, and more than in the 48 hours before at that pace
  (``8 * recent > earlier``, in whole numbers, so a steady story is left out however its
  growth rounds). A new last column, ``mark``: ``new`` (first seen in the 6 hours) or
  ``developing``. ``serve.queries.trending_stories`` computes the same for any window.
- ``story_sources`` ranks outlets by their first report of the story's event, not by their
  oldest article (``pipeline.stories.onset``): the event begins with the first burst of
  coverage (no gap over 24 hours) that two outlets report, and an outlet's older articles
  are background that joined the story. A new last column, ``first_report_at``;
  ``arrival_rank`` is NULL for an outlet with no article from the onset on.
- ``story_history`` also shows, in the parent's history, each story that split from it:
  ``relation`` 'split into', the child as ``other_story_id`` (the child's event, seen from
  the parent; its ``event_id`` is the child's event's, its ``article_count`` NULL).

The columns that were there keep their names, types and order, and new ones come last, so
PostgreSQL replaces the views in place. The downgrade restores 0006's and 0008's.

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_HISTORY = """
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
        UNION ALL
        SELECT e.id AS event_id, e.at, e.other_story_id AS story_id, parent.title, e.kind,
               'split into' AS relation,
               e.story_id AS other_story_id, child.title AS other_title,
               NULL AS article_count, e.run_id
        FROM story_events AS e
        JOIN stories AS parent ON parent.id = e.other_story_id
        JOIN stories AS child ON child.id = e.story_id
        WHERE e.kind = 'split'
"""

_SOURCES = """
        WITH bursts AS (
            SELECT g.story_id, g.outlet, g.published_at,
                   sum(g.starts) OVER (PARTITION BY g.story_id ORDER BY g.published_at, g.id
                                       ROWS UNBOUNDED PRECEDING) AS burst
            FROM (
                SELECT m.story_id, m.id, m.outlet, m.published_at,
                       CASE WHEN {within_gap} THEN 0 ELSE 1 END AS starts
                FROM (
                    SELECT sa.story_id, a.id, f.outlet, a.published_at,
                           lag(a.published_at) OVER (PARTITION BY sa.story_id
                                                     ORDER BY a.published_at, a.id)
                               AS previous
                    FROM story_articles AS sa
                    JOIN articles AS a ON a.id = sa.article_id
                    JOIN feeds AS f ON f.id = a.feed_id
                ) AS m
            ) AS g
        ), onsets AS (
            SELECT b.story_id,
                   COALESCE(min(b.began) FILTER (WHERE b.outlets >= 2), min(b.began)) AS at
            FROM (
                SELECT story_id, burst, min(published_at) AS began,
                       count(DISTINCT outlet) AS outlets
                FROM bursts
                GROUP BY story_id, burst
            ) AS b
            GROUP BY b.story_id
        ), reports AS (
            SELECT b.story_id, b.outlet, count(*) AS articles,
                   min(b.published_at) AS first_article_at,
                   min(b.published_at) FILTER (WHERE b.published_at >= o.at) AS first_report_at
            FROM bursts AS b JOIN onsets AS o ON o.story_id = b.story_id
            GROUP BY b.story_id, b.outlet
        )
        SELECT r.story_id, r.outlet, r.articles, r.first_article_at,
               CASE WHEN r.first_report_at IS NOT NULL THEN
                   rank() OVER (PARTITION BY r.story_id ORDER BY r.first_report_at NULLS LAST)
               END AS arrival_rank,
               r.first_report_at
        FROM reports AS r
"""

_TRENDING = """
        WITH clock AS (
            SELECT {clock_columns}
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
            WHERE c.recent >= 2 AND c.recent * 8 > c.earlier
        )
        SELECT rank() OVER (ORDER BY sc.growth DESC, sc.recent DESC, s.id) AS rank,
               s.id AS story_id, s.title, s.status,
               sc.recent AS articles_last_6h, sc.earlier AS articles_previous_48h,
               {rounded_growth} AS growth,
               s.article_count AS articles, s.source_count AS outlets,
               CASE WHEN s.first_seen > clock.at_minus_6h THEN 'new' ELSE 'developing' END
                   AS mark
        FROM scored AS sc JOIN stories AS s ON s.id = sc.story_id CROSS JOIN clock
        WHERE s.status = 'active'
"""

POSTGRESQL = {
    "story_sources": _SOURCES.format(
        within_gap="m.published_at - m.previous <= interval '24 hours'"
    ),
    "trending_stories": _TRENDING.format(
        clock_columns="at, at - interval '6 hours' AS at_minus_6h, "
        "at - interval '54 hours' AS at_minus_54h",
        rounded_growth="round(sc.growth::numeric, 2)",
    ),
    "story_history": _HISTORY,
}

# SQLite's timestamps are text in one format: a bound is shifted by whole seconds and its
# fraction appended unchanged, as 0008 explains.
SQLITE = {
    "story_sources": _SOURCES.format(
        within_gap="m.published_at <= "
        "(datetime(substr(m.previous, 1, 19), '+24 hours') || substr(m.previous, 20))"
    ),
    "trending_stories": _TRENDING.format(
        clock_columns="at, "
        "datetime(substr(at, 1, 19), '-6 hours') || substr(at, 20) AS at_minus_6h, "
        "datetime(substr(at, 1, 19), '-54 hours') || substr(at, 20) AS at_minus_54h",
        rounded_growth="round(sc.growth, 2)",
    ),
    "story_history": _HISTORY,
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, query in POSTGRESQL.items():
            op.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")
        return
    for name, query in SQLITE.items():
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(f"CREATE VIEW {name} AS {query}")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    earlier = _views("0006_analyst_views.py" if postgresql else "0008_analyst_views_sqlite.py")
    for name in POSTGRESQL:
        # Dropped, not replaced: PostgreSQL replaces a view only with its columns kept.
        op.execute(f"DROP VIEW IF EXISTS {name}")
        op.execute(f"CREATE VIEW {name} AS {earlier[name]}")


def _views(migration: str) -> dict[str, str]:
    """The ``VIEWS`` of an earlier migration of this folder, as it made them."""
    spec = importlib.util.spec_from_file_location(
        f"_storyline_{migration[:4]}", Path(__file__).with_name(migration)
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    views: dict[str, str] = module.VIEWS
    return views

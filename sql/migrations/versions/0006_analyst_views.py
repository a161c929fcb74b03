"""Views for analysts on PostgreSQL (0008 creates them on SQLite): story_summary,
story_timeline, story_sources, trending_stories, story_history, and pipeline_clock, the time
they are measured against.

Documented with example queries in sql/README.md. "Now" is the clock of the newest
successful cluster run, not the wall clock, so a replayed or paused pipeline reads the same
as a live one (live, the two differ by at most one schedule interval).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

VIEWS = {
    "pipeline_clock": """
        SELECT COALESCE(max(run.now), now()) AS at
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
                   AND a.published_at > clock.at - interval '24 hours'
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
        WITH counts AS (
            SELECT h.story_id,
                   COALESCE(sum(h.article_count)
                       FILTER (WHERE h.hour > clock.at - interval '6 hours'), 0)
                       AS recent,
                   COALESCE(sum(h.article_count)
                       FILTER (WHERE h.hour <= clock.at - interval '6 hours'), 0)
                       AS earlier
            FROM story_hours AS h CROSS JOIN pipeline_clock AS clock
            WHERE h.hour > clock.at - interval '54 hours' AND h.hour <= clock.at
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
               round(sc.growth::numeric, 2) AS growth,
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
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, query in VIEWS.items():
        op.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in reversed(list(VIEWS)):
        op.execute(f"DROP VIEW IF EXISTS {name}")

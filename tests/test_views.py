"""The analyst views (migration 0006) on PostgreSQL, with rows made by the real pipeline,
and every example query of sql/README.md."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from models import Article, ClusterRun, Feed, Story, StoryArticle, StoryEvent, StoryHour
from pipeline.db import make_engine, session_scope
from tests.conftest import create_pg_database, drop_pg_database, run_demo

pytestmark = pytest.mark.postgres

README = Path(__file__).resolve().parents[1] / "sql" / "README.md"
EXAMPLES = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.fixture(scope="module")
def demo(pg_admin: Engine) -> Iterator[Engine]:
    """A PostgreSQL database after one `storyline demo`: six outlets, five stories."""
    url = create_pg_database(pg_admin, prefix="storyline_views")
    try:
        run_demo(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        drop_pg_database(pg_admin, url)


def rows(engine: Engine, query: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(query))]


def test_readme_has_the_examples() -> None:
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("query", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_every_readme_example_runs_and_returns_rows(demo: Engine, query: str) -> None:
    assert rows(demo, query), query


def test_story_summary_matches_the_stories(demo: Engine) -> None:
    with session_scope(demo) as session:
        clock = session.scalar(select(func.max(ClusterRun.now)).where(ClusterRun.status == "ok"))
        assert clock is not None
        members = session.execute(
            select(StoryArticle.story_id, Feed.outlet, Article.published_at)
            .join(Article, Article.id == StoryArticle.article_id)
            .join(Feed, Feed.id == Article.feed_id)
        ).all()
        stories = {s.id: s for s in session.scalars(select(Story))}
    articles: Counter[int] = Counter(story for story, _, _ in members)
    outlets: dict[int, set[str]] = defaultdict(set)
    recent: Counter[int] = Counter()
    for story, outlet, published in members:
        outlets[story].add(outlet)
        if clock - timedelta(hours=24) < published <= clock:
            recent[story] += 1
    summary = {row["story_id"]: row for row in rows(demo, "SELECT * FROM story_summary")}
    assert set(summary) == set(stories)
    assert len(summary) == 5
    for story_id, row in summary.items():
        assert row["articles"] == articles[story_id]
        assert row["outlets"] == len(outlets[story_id])
        assert row["articles_last_24h"] == recent[story_id]
        assert row["title"] == stories[story_id].title
        assert row["status"] == "active"
    assert any(0 < row["articles_last_24h"] < row["articles"] for row in summary.values())


def test_timeline_and_sources_add_up_to_the_story(demo: Engine) -> None:
    timeline = rows(demo, "SELECT story_id, sum(articles) AS n FROM story_timeline GROUP BY 1")
    sources = rows(demo, "SELECT story_id, sum(articles) AS n FROM story_sources GROUP BY 1")
    summary = rows(demo, "SELECT story_id, articles FROM story_summary")
    expected = {row["story_id"]: row["articles"] for row in summary}
    assert {row["story_id"]: row["n"] for row in timeline} == expected
    assert {row["story_id"]: row["n"] for row in sources} == expected


def test_the_outlet_ranked_first_published_first(demo: Engine) -> None:
    with session_scope(demo) as session:
        first = dict(
            session.execute(
                select(StoryArticle.story_id, Feed.outlet)
                .join(Article, Article.id == StoryArticle.article_id)
                .join(Feed, Feed.id == Article.feed_id)
                .order_by(StoryArticle.story_id, Article.published_at.desc())
            ).all()
        )  # the last row per story wins: its earliest article's outlet
    broke = rows(demo, "SELECT story_id, outlet FROM story_sources WHERE arrival_rank = 1")
    assert {row["story_id"]: row["outlet"] for row in broke} == first


def test_trending_ranks_by_growth_against_the_storys_own_pace(demo: Engine) -> None:
    with session_scope(demo) as session:
        clock = session.scalar(select(func.max(ClusterRun.now)).where(ClusterRun.status == "ok"))
        assert clock is not None
        hours = session.execute(
            select(StoryHour.story_id, StoryHour.hour, StoryHour.article_count)
        ).all()
    recent: Counter[int] = Counter()
    earlier: Counter[int] = Counter()
    for story, hour, count in hours:
        if clock - timedelta(hours=6) < hour <= clock:
            recent[story] += count
        elif clock - timedelta(hours=54) < hour <= clock - timedelta(hours=6):
            earlier[story] += count
    growth = {
        story: (recent[story] + 1) / (earlier[story] / 8 + 1) for story in recent if recent[story]
    }
    trending = rows(demo, "SELECT * FROM trending_stories ORDER BY rank")
    assert [row["story_id"] for row in trending] == sorted(
        growth, key=lambda story: (-growth[story], -recent[story], story)
    )
    assert len(trending) >= 2
    for row in trending:
        assert float(row["growth"]) == pytest.approx(growth[row["story_id"]], abs=0.005)
        assert row["articles_last_6h"] == recent[row["story_id"]]


def test_history_names_the_relation_of_merges_and_splits(demo: Engine) -> None:
    with session_scope(demo) as session:
        story = session.scalars(select(Story).order_by(Story.id)).first()
        assert story is not None
        # Record a merge by hand: the history view must name the survivor.
        session.add(
            StoryEvent(story_id=story.id, at=story.last_seen, kind="merged", other_story_id=2)
        )
    history = rows(demo, "SELECT * FROM story_history ORDER BY at, event_id")
    kinds = Counter(row["kind"] for row in history)
    assert kinds["created"] == 5
    merged = [row for row in history if row["kind"] == "merged"]
    assert merged[0]["relation"] == "merged into"
    assert merged[0]["other_title"]
    assert all(row["relation"] is None for row in history if row["kind"] == "created")


def test_similar_stories_use_the_centroid_index(demo: Engine) -> None:
    similar = next(query for query in EXAMPLES if "<=>" in query)
    with demo.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {similar}")))
    assert "ix_stories_centroid_hnsw" in plan

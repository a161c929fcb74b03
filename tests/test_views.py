"""The analyst views (migration 0006 on PostgreSQL, 0008 on SQLite) on both backends, with
rows made by the real pipeline, and every example query of sql/README.md on the backend it
is written for."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, func, inspect, select, text

from models import (
    Article,
    ArticleEntity,
    ClusterRun,
    Entity,
    Feed,
    Story,
    StoryArticle,
    StoryEvent,
    StoryHour,
    StorySentence,
)
from pipeline.db import alembic_config, make_engine, migrate, session_scope
from pipeline.stories.onset import onset
from tests.conftest import create_pg_database, drop_pg_database, run_demo
from tests.factories import add_article, add_cluster_run, add_feeds, add_story, direction

README = Path(__file__).resolve().parents[1] / "sql" / "README.md"
VIEWS = {
    "pipeline_clock",
    "story_summary",
    "story_timeline",
    "story_sources",
    "trending_stories",
    "story_history",
}
"""The views of 0006 and 0008 (0015's ``story_summary_sentences`` is the same SQL on both)."""
BACKENDS = {"sqlite": (), "postgresql": (pytest.mark.postgres,)}
"""Each backend with the marks its tests carry."""


@dataclass(frozen=True)
class Example:
    """One ```sql block of the README: ``backend`` None runs on both."""

    index: int
    backend: str | None
    query: str


EXAMPLES = [
    Example(index, match[1] or None, match[2])
    for index, match in enumerate(
        re.finditer(
            r"```sql(?: (postgresql|sqlite))?\n(.*?)```",
            README.read_text(encoding="utf-8"),
            flags=re.DOTALL,
        )
    )
]


def examples_for(backend: str) -> list[Example]:
    return [example for example in EXAMPLES if example.backend in (None, backend)]


@pytest.fixture(scope="module")
def sqlite_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A SQLite file database after one `storyline demo`: six outlets, five stories."""
    url = f"sqlite:///{tmp_path_factory.mktemp('views') / 'storyline.db'}"
    run_demo(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def postgresql_demo(pg_admin: Engine) -> Iterator[Engine]:
    """A PostgreSQL database after one `storyline demo`: six outlets, five stories."""
    url = create_pg_database(pg_admin, prefix="storyline_views")
    try:
        run_demo(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()
    finally:
        drop_pg_database(pg_admin, url)


@pytest.fixture(
    scope="module", params=[pytest.param(name, marks=marks) for name, marks in BACKENDS.items()]
)
def demo(request: pytest.FixtureRequest) -> Engine:
    """The demo's database on each backend in turn."""
    engine: Engine = request.getfixturevalue(f"{request.param}_demo")
    return engine


def rows(engine: Engine, query: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text(query))]


def example(engine: Engine, word: str) -> str:
    """The one README example for the engine's backend that mentions ``word``."""
    (found,) = [e.query for e in examples_for(engine.dialect.name) if word in e.query]
    return found


def test_readme_has_the_examples() -> None:
    assert len(examples_for("postgresql")) >= 9
    assert len(examples_for("sqlite")) >= 8


def test_each_postgresql_example_is_followed_by_its_sqlite_one() -> None:
    postgresql = [e.index for e in EXAMPLES if e.backend == "postgresql"]
    sqlite = [e.index for e in EXAMPLES if e.backend == "sqlite"]
    # pgvector's `<=>` has no SQLite spelling: the README points to the API instead.
    unpaired = [i for i in postgresql if "<=>" in EXAMPLES[i].query]
    assert len(unpaired) == 1
    assert [i + 1 for i in postgresql if i not in unpaired] == sqlite
    assert len(sqlite) >= 2


@pytest.mark.parametrize(
    ("backend", "query"),
    [
        pytest.param(name, e.query, marks=marks, id=f"{name}-example-{e.index}")
        for name, marks in BACKENDS.items()
        for e in examples_for(name)
    ],
)
def test_every_readme_example_runs_and_returns_rows(
    request: pytest.FixtureRequest, backend: str, query: str
) -> None:
    engine: Engine = request.getfixturevalue(f"{backend}_demo")
    assert rows(engine, query), query


def test_the_keyword_example_finds_the_stories_with_the_keyword(demo: Engine) -> None:
    with session_scope(demo) as session:
        expected = {s.id for s in session.scalars(select(Story)) if "jets" in s.keywords}
    assert expected
    assert {row["story_id"] for row in rows(demo, example(demo, "'jets'"))} == expected


def test_the_lag_example_measures_each_outlet_behind_the_first(demo: Engine) -> None:
    with session_scope(demo) as session:
        published = session.execute(
            select(Feed.outlet, Article.published_at)
            .join(Article, Article.feed_id == Feed.id)
            .join(StoryArticle, StoryArticle.article_id == Article.id)
            .where(StoryArticle.story_id == 2)
        ).all()
    first: dict[str, datetime] = {}
    for outlet, at in published:
        first[outlet] = min(at, first.get(outlet, at))
    start = min(first.values())
    expected = {outlet: (at - start).total_seconds() / 60 for outlet, at in first.items()}
    lags = {
        row["outlet"]: (
            row["behind_first"].total_seconds() / 60
            if "behind_first" in row
            else row["minutes_behind_first"]
        )
        for row in rows(demo, example(demo, "behind_first"))
    }
    assert lags == pytest.approx(expected, abs=0.05)
    assert max(lags.values()) > 60


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


def test_the_outlet_ranked_first_reported_the_event_first(demo: Engine) -> None:
    """``arrival_rank`` 1 is the outlet with the earliest article from the story's onset on
    (``pipeline.stories.onset``), and an outlet whose articles all precede it has none."""
    members: defaultdict[int, list[tuple[datetime, str]]] = defaultdict(list)
    with session_scope(demo) as session:
        for story_id, published, outlet in session.execute(
            select(StoryArticle.story_id, Article.published_at, Feed.outlet)
            .join(Article, Article.id == StoryArticle.article_id)
            .join(Feed, Feed.id == Article.feed_id)
        ):
            members[story_id].append((published, outlet))
        titles = dict(session.execute(select(Story.id, Story.title)).all())
    first: dict[int, str] = {}
    for story_id, articles in members.items():
        began = onset(articles)
        assert began is not None
        first[story_id] = min((at, outlet) for at, outlet in articles if at >= began)[1]
    broke = rows(demo, "SELECT story_id, outlet FROM story_sources WHERE arrival_rank = 1")
    assert {row["story_id"]: row["outlet"] for row in broke} == first
    # The Saint-Denis raid: Meridian Wire's profile of the suspect two days before joined
    # the story, but The Atlas Post reported the raid first.
    (raid,) = [story for story, title in titles.items() if "Saint-Denis raid" in title]
    assert first[raid] == "The Atlas Post"
    sources = rows(
        demo,
        f"SELECT outlet, arrival_rank, first_article_at, first_report_at FROM story_sources "
        f"WHERE story_id = {raid} AND outlet = 'Meridian Wire'",
    )
    assert sources[0]["arrival_rank"] > 1
    assert sources[0]["first_report_at"] > sources[0]["first_article_at"]


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
        first_seen = dict(session.execute(select(Story.id, Story.first_seen)).all())
    # Growing: two articles at least, and faster than the story's own pace before.
    growth = {
        story: (recent[story] + 1) / (earlier[story] / 8 + 1)
        for story in recent
        if recent[story] >= 2 and recent[story] * 8 > earlier[story]
    }
    trending = rows(demo, "SELECT * FROM trending_stories ORDER BY rank")
    assert [row["story_id"] for row in trending] == sorted(
        growth, key=lambda story: (-growth[story], -recent[story], story)
    )
    assert len(trending) >= 2
    for row in trending:
        assert float(row["growth"]) == pytest.approx(growth[row["story_id"]], abs=0.005)
        assert float(row["growth"]) > 1
        assert row["articles_last_6h"] == recent[row["story_id"]]
        new = first_seen[row["story_id"]] > clock - timedelta(hours=6)
        assert row["mark"] == ("new" if new else "developing")


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


def test_a_parents_history_shows_the_stories_split_from_it(engine: Engine) -> None:
    parent = add_story(engine, "Paris attacks")
    child = add_story(engine, "Molenbeek raids")
    with session_scope(engine) as session:
        at = session.get_one(Story, child).first_seen
        session.add(StoryEvent(story_id=child, at=at, kind="split", other_story_id=parent))
    history = rows(engine, "SELECT * FROM story_history ORDER BY story_id, relation")
    assert [
        (row["story_id"], row["kind"], row["relation"], row["other_story_id"], row["other_title"])
        for row in history
    ] == [
        (parent, "split", "split into", child, "Molenbeek raids"),
        (child, "split", "split from", parent, "Paris attacks"),
    ]


@pytest.mark.postgres
def test_similar_stories_use_the_centroid_index(postgresql_demo: Engine) -> None:
    similar = example(postgresql_demo, "<=>")
    with postgresql_demo.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {similar}")))
    assert "Index Scan using ix_stories_centroid_hnsw_384 on stories" in plan


# The windows at their edges, on rows made to sit on them. On SQLite the views compare text,
# so a bound in another format than the stored one would move an edge without an error.

STORED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
"""How SQLite holds a timestamp: naive UTC, always six fraction digits."""


@pytest.mark.parametrize(
    "clock",
    [
        datetime(2015, 11, 18, 18, tzinfo=UTC),
        datetime(2015, 11, 18, 17, 59, 59, 999_800, tzinfo=UTC),
    ],
    ids=["on-the-hour", "a-fraction-before-the-hour"],
)
def test_the_windows_hold_at_their_edges(engine: Engine, clock: datetime) -> None:
    add_cluster_run(engine, clock)
    feed = add_feeds(engine, ["Alpha"])["Alpha"]
    story = add_story(engine, "edges")
    tick = timedelta(microseconds=1)
    day = timedelta(hours=24)
    times = [clock - day - tick, clock - day, clock - day + tick, clock, clock + tick]
    top = clock.replace(minute=0, second=0, microsecond=0)
    hours = [top + timedelta(hours=k) for k in range(-56, 3)]
    articles = [
        add_article(engine, feed, f"edge {i}", at, direction(i)) for i, at in enumerate(times)
    ]

    def count(k: int, hour: datetime) -> int:
        return (1 + k % 3) * (2 if hour > clock - timedelta(hours=6) else 1)

    with session_scope(engine) as session:
        session.add_all(
            StoryArticle(article_id=article, story_id=story, since=at)
            for article, at in zip(articles, times, strict=True)
        )
        # Twice as many an hour in the last 6 hours: growing, so trending (an hour
        # counted on the wrong side of an edge changes both sums).
        session.add_all(
            StoryHour(story_id=story, hour=hour, article_count=count(k, hour), outlet_count=1)
            for k, hour in enumerate(hours)
        )
        story_row = session.get_one(Story, story)
        story_row.article_count = len(times)
        story_row.first_seen = min(times)
    six, fifty_four = timedelta(hours=6), timedelta(hours=54)
    recent = sum(count(k, h) for k, h in enumerate(hours) if clock - six < h <= clock)
    earlier = sum(count(k, h) for k, h in enumerate(hours) if clock - fifty_four < h <= clock - six)
    assert (recent, earlier) == (24, 96)  # 6 hours of rows and 48: each edge hour in one window

    (summary,) = rows(engine, "SELECT articles_last_24h FROM story_summary")
    assert summary["articles_last_24h"] == 2  # after clock - 24 h, up to the clock itself
    (trending,) = rows(engine, "SELECT * FROM trending_stories")
    assert (trending["articles_last_6h"], trending["articles_previous_48h"]) == (recent, earlier)
    assert float(trending["growth"]) == pytest.approx((recent + 1) / (earlier / 8 + 1), abs=0.005)
    assert trending["mark"] == "developing"  # first seen a day before the clock
    (at,) = rows(engine, "SELECT at FROM pipeline_clock")
    if engine.dialect.name == "sqlite":
        assert at["at"] == clock.strftime("%Y-%m-%d %H:%M:%S.%f")
    else:
        assert at["at"] == clock


def test_the_clock_is_the_wall_clock_before_the_first_run(engine: Engine) -> None:
    before = datetime.now(UTC)
    (row,) = rows(engine, "SELECT at FROM pipeline_clock")
    after = datetime.now(UTC)
    at = row["at"]
    if engine.dialect.name == "sqlite":
        assert STORED.fullmatch(at), at
        at = datetime.fromisoformat(at).replace(tzinfo=UTC)
    # SQLite's clock has milliseconds; PostgreSQL's now() is the transaction's start.
    assert before - timedelta(seconds=1) <= at <= after + timedelta(seconds=1)


def test_downgrading_to_0007_drops_the_sqlite_views_and_upgrading_makes_them(
    engine: Engine,
) -> None:
    assert set(inspect(engine).get_view_names()) >= VIEWS
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
    left = VIEWS & set(inspect(engine).get_view_names())
    assert left == (set() if engine.dialect.name == "sqlite" else VIEWS)  # 0006 made PG's
    migrate(engine)
    assert set(inspect(engine).get_view_names()) >= VIEWS
    assert rows(engine, "SELECT * FROM story_summary") == []


def test_the_summary_view_gives_each_storys_sentences_with_outlet_and_link(
    demo: Engine,
) -> None:
    with session_scope(demo) as session:
        expected = {
            (s.story_id, s.position): (s.sentence, s.article_id, outlet, url)
            for s, outlet, url in session.execute(
                select(StorySentence, Feed.outlet, Article.url)
                .join(Article, Article.id == StorySentence.article_id)
                .join(Feed, Feed.id == Article.feed_id)
            )
        }
        live = set(session.scalars(select(Story.id).where(Story.status == "active")))
    found = {
        (row["story_id"], row["position"]): (
            row["sentence"],
            row["article_id"],
            row["outlet"],
            row["url"],
        )
        for row in rows(demo, "SELECT * FROM story_summary_sentences")
    }
    assert found == expected
    per_story = Counter(story_id for story_id, _ in found)
    assert set(per_story) == live
    assert all(2 <= count <= 3 for count in per_story.values())


def test_story_entities_rank_each_storys_entities_by_kind(demo: Engine) -> None:
    with session_scope(demo) as session:
        truth: dict[tuple[int, int], set[int]] = {}
        for story_id, entity_id, article_id in session.execute(
            select(StoryArticle.story_id, ArticleEntity.entity_id, ArticleEntity.article_id).join(
                ArticleEntity, ArticleEntity.article_id == StoryArticle.article_id
            )
        ):
            truth.setdefault((story_id, entity_id), set()).add(article_id)
    assert truth
    view = rows(demo, "SELECT * FROM story_entities")
    assert {(row["story_id"], row["entity_id"]): row["articles"] for row in view} == {
        key: len(articles) for key, articles in truth.items()
    }
    ranks: dict[tuple[int, str], list[tuple[int, int, int]]] = {}
    for row in view:
        ranks.setdefault((row["story_id"], row["kind"]), []).append(
            (row["rank"], -row["articles"], -row["outlets"])
        )
    for ranked in ranks.values():
        ranked.sort()
        assert [rank for rank, *_ in ranked] == list(range(1, len(ranked) + 1))
        assert [score for _, *score in ranked] == sorted(score for _, *score in ranked)


def test_entity_stories_span_each_entitys_articles_in_each_story(demo: Engine) -> None:
    view = rows(demo, "SELECT * FROM entity_stories WHERE name = 'Salah Abdeslam'")
    with session_scope(demo) as session:
        expected: dict[int, list[Any]] = {}
        for story_id, published in session.execute(
            select(StoryArticle.story_id, Article.published_at)
            .join(ArticleEntity, ArticleEntity.article_id == StoryArticle.article_id)
            .join(Entity, Entity.id == ArticleEntity.entity_id)
            .join(Article, Article.id == StoryArticle.article_id)
            .where(Entity.name == "Salah Abdeslam")
        ):
            expected.setdefault(story_id, []).append(published)
    assert expected
    assert {row["story_id"]: row["articles"] for row in view} == {
        story: len(times) for story, times in expected.items()
    }
    for row in view:
        first = row["first_article_at"]
        if isinstance(first, str):  # SQLite: the stored text
            first = datetime.fromisoformat(first).replace(tzinfo=UTC)
        assert first == min(expected[row["story_id"]])


def test_the_entity_views_come_and_go_with_their_migration(engine: Engine) -> None:
    views = {"story_entities", "entity_stories"}
    assert set(inspect(engine).get_view_names()) >= views
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    assert not views & set(inspect(engine).get_view_names())
    migrate(engine)
    assert set(inspect(engine).get_view_names()) >= views
    assert rows(engine, "SELECT * FROM story_entities") == []

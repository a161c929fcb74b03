from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, func, select, update

from models import (
    Article,
    ClusterRun,
    Embedding,
    Story,
    StoryArticle,
    StoryEvent,
    StoryHour,
)
from pipeline.db import session_scope
from pipeline.maintenance import apply_retention, mark_dormant_stories, optimise
from pipeline.settings import Settings
from pipeline.stories.stage import cluster
from tests.factories import T0, add_article, add_feeds, direction, near, row_counts

NOW = T0 + timedelta(days=10)
"""The maintenance run's time; with ``retention_days=5`` the cutoff is ``T0 + 5 days``."""


def seed(engine: Engine, settings: Settings) -> dict[str, list[int]]:
    """An old story, a story spanning the cutoff, an old stray and a recent reprint of it."""
    feeds = add_feeds(engine, ["Alpha", "Beta", "Gamma"])
    ids: dict[str, list[int]] = {"old": [], "span": [], "stray": [], "recent": []}
    quake, rates = direction(1), direction(2)
    for i, outlet in enumerate(["Alpha", "Beta", "Gamma"]):
        ids["old"].append(
            add_article(
                engine, feeds[outlet], f"quake {i}", T0 + timedelta(hours=i), near(quake, i)
            )
        )
    ids["stray"].append(
        add_article(engine, feeds["Alpha"], "stray", T0 + timedelta(hours=1), direction(3))
    )
    cluster(engine, settings, now=T0 + timedelta(days=1))
    for i, (outlet, day) in enumerate([("Alpha", 4), ("Beta", 4), ("Gamma", 6), ("Alpha", 6)]):
        when = T0 + timedelta(days=day, minutes=i)
        ids["span"].append(
            add_article(engine, feeds[outlet], f"rates {i}", when, near(rates, 20 + i))
        )
    cluster(engine, settings, now=T0 + timedelta(days=6, hours=1))
    ids["recent"].append(
        add_article(engine, feeds["Beta"], "recent", T0 + timedelta(days=9), direction(4))
    )
    with session_scope(engine) as session:
        session.execute(
            update(Article)
            .where(Article.id == ids["recent"][0])
            .values(duplicate_of_id=ids["stray"][0])
        )
    return ids


def story_of(engine: Engine) -> dict[int, int]:
    with session_scope(engine) as session:
        return dict(session.execute(select(StoryArticle.article_id, StoryArticle.story_id)).all())


def test_retention_keeps_stories_whole(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url, retention_days=5)
    ids = seed(engine, settings)
    membership = story_of(engine)
    old_story, span_story = membership[ids["old"][0]], membership[ids["span"][0]]
    assert {membership[i] for i in ids["span"]} == {span_story}
    with session_scope(engine) as session:
        # kept rows that name the old story: both lose the reference, neither is deleted
        session.execute(
            update(Story).where(Story.id == span_story).values(merged_into_id=old_story)
        )
        session.add(
            StoryEvent(
                story_id=span_story, at=NOW, kind="split", other_story_id=old_story, article_count=4
            )
        )
        runs = session.scalar(select(func.count()).select_from(ClusterRun))
    assert runs == 2

    report = apply_retention(engine, settings, NOW)

    assert report.cutoff == T0 + timedelta(days=5)
    assert (report.stories, report.articles, report.cluster_runs) == (1, 4, 1)
    with session_scope(engine) as session:
        articles = set(session.scalars(select(Article.id)))
        assert articles == set(ids["span"] + ids["recent"])  # span's day-4 articles stay
        assert set(session.scalars(select(Embedding.article_id))) == articles
        assert set(session.scalars(select(Story.id))) == {span_story}
        span = session.get_one(Story, span_story)
        assert (span.article_count, span.merged_into_id) == (4, None)
        assert (
            session.scalar(
                select(func.count()).select_from(StoryHour).where(StoryHour.story_id == old_story)
            )
            == 0
        )
        assert (
            session.scalar(
                select(func.count()).select_from(StoryEvent).where(StoryEvent.story_id == old_story)
            )
            == 0
        )
        assert set(session.scalars(select(StoryEvent.other_story_id))) == {None}
        recent = session.get_one(Article, ids["recent"][0])
        assert recent.duplicate_of_id is None
        # the run that made the kept story (and the last good run) stays
        assert session.scalar(select(func.count()).select_from(ClusterRun)) == 1
    assert story_of(engine) == {i: span_story for i in ids["span"]}

    counts = row_counts(engine)
    again = apply_retention(engine, settings, NOW)
    assert (again.stories, again.articles, again.cluster_runs) == (0, 0, 0)
    assert row_counts(engine) == counts


def test_retention_unset_keeps_everything(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    seed(engine, settings)
    counts = row_counts(engine)
    report = apply_retention(engine, settings, NOW + timedelta(days=3650))
    assert report.cutoff is None
    assert (report.stories, report.articles, report.cluster_runs) == (0, 0, 0)
    assert row_counts(engine) == counts


def test_retention_keeps_the_last_good_cluster_run(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url, retention_days=1)
    feeds = add_feeds(engine, ["Alpha"])
    add_article(engine, feeds["Alpha"], "lonely", T0, direction(1))
    cluster(engine, settings, now=T0 + timedelta(hours=1))  # no story: nothing names the run
    with session_scope(engine) as session:
        (last,) = session.scalars(select(ClusterRun.id))
    report = apply_retention(engine, settings, NOW)
    assert (report.articles, report.cluster_runs) == (1, 0)
    with session_scope(engine) as session:
        assert list(session.scalars(select(ClusterRun.id))) == [last]


def test_mark_dormant_stories_is_idempotent(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    ids = seed(engine, settings)
    span_story = story_of(engine)[ids["span"][0]]
    # the old story went dormant during the second clustering; the span story now
    assert mark_dormant_stories(engine, settings, NOW) == [span_story]
    assert mark_dormant_stories(engine, settings, NOW) == []
    with session_scope(engine) as session:
        assert set(session.scalars(select(Story.status))) == {"dormant"}
        kinds = session.scalars(
            select(StoryEvent.kind).where(
                StoryEvent.story_id == span_story, StoryEvent.kind == "dormant"
            )
        ).all()
        assert kinds == ["dormant"]


def test_optimise_analyses_and_vacuums(engine: Engine) -> None:
    report = optimise(engine)
    assert report.analysed
    assert "articles" in report.tables
    if engine.dialect.name == "postgresql":
        assert report.vacuumed
    else:
        assert not report.vacuumed  # a fresh file has no free pages to give back


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_optimise_rewrites_a_mostly_empty_sqlite_file(engine: Engine) -> None:
    feeds = add_feeds(engine, ["Alpha"])
    with session_scope(engine) as session:
        session.add_all(
            Article(
                feed_id=feeds["Alpha"],
                guid=f"g{i}",
                url=None,
                title=f"Article {i}",
                summary="x" * 2000,
                published_at=T0,
                published_estimated=False,
                fetched_at=T0,
                content_hash=f"h{i}",
            )
            for i in range(500)
        )
    with session_scope(engine) as session:
        session.execute(delete(Article))
    assert optimise(engine).vacuumed
    assert not optimise(engine).vacuumed

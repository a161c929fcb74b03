"""Story lineage through the cluster stage, on small hand-made streams."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select

from models import Story, StoryArticle, StoryEvent, StoryHour
from pipeline.db import session_scope
from pipeline.settings import Settings
from pipeline.stories.stage import cluster
from tests.factories import T0, add_article, add_feeds, direction, mix, near

OUTLETS = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon"]


def events(engine: Engine) -> list[tuple[int, str, int | None]]:
    with session_scope(engine) as session:
        return [
            (e.story_id, e.kind, e.other_story_id)
            for e in session.scalars(select(StoryEvent).order_by(StoryEvent.id))
        ]


def stories(engine: Engine) -> dict[int, Story]:
    with session_scope(engine) as session:
        return {story.id: story for story in session.scalars(select(Story))}


def membership(engine: Engine) -> dict[int, int]:
    with session_scope(engine) as session:
        return dict(session.execute(select(StoryArticle.article_id, StoryArticle.story_id)).all())


def two_close_groups(engine: Engine, sizes: tuple[int, int]) -> tuple[list[int], list[int]]:
    """Two groups 0.3 apart in cosine: separate at link distance 0.6, one at 0.8."""
    feeds = add_feeds(engine, OUTLETS)
    a = direction(1)
    b = mix(a, direction(2), 0.3)
    first = [
        add_article(
            engine, feeds[OUTLETS[i]], f"alpha{i}", T0 + timedelta(hours=i), near(a, 10 + i)
        )
        for i in range(sizes[0])
    ]
    second = [
        add_article(
            engine, feeds[OUTLETS[i]], f"bravo{i}", T0 + timedelta(hours=i), near(b, 20 + i)
        )
        for i in range(sizes[1])
    ]
    return first, second


def test_created_then_grew_with_keywords_and_timeline(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    feeds = add_feeds(engine, OUTLETS)
    quake = direction(7)
    for i in range(3):
        add_article(engine, feeds[OUTLETS[i]], f"Chile quake Iquique {i}", T0, near(quake, i))
    cluster(engine, settings, now=T0 + timedelta(hours=1))
    late = add_article(
        engine, feeds["Delta"], "Iquique quake aftershock", T0 + timedelta(hours=3), near(quake, 9)
    )
    cluster(engine, settings, now=T0 + timedelta(hours=4))
    (story_id,) = set(membership(engine).values())
    assert membership(engine)[late] == story_id
    assert events(engine) == [(story_id, "created", None), (story_id, "grew", None)]
    story = stories(engine)[story_id]
    words = {word for keyword in story.keywords for word in keyword.split(" ")}
    assert {"iquique", "quake"} <= words  # as words or in a phrase ("chile quake")
    with session_scope(engine) as session:
        hours = [
            (h.hour, h.article_count, h.outlet_count)
            for h in session.scalars(
                select(StoryHour).where(StoryHour.story_id == story_id).order_by(StoryHour.hour)
            )
        ]
    assert hours == [(T0, 3, 3), (T0 + timedelta(hours=3), 1, 1)]


def test_two_stories_that_turn_out_to_be_one_merge(engine: Engine, db_url: str) -> None:
    smaller, larger = two_close_groups(engine, (2, 3))
    cluster(engine, Settings.load(database_url=db_url), now=T0 + timedelta(hours=6))
    before = membership(engine)
    young, survivor = before[smaller[0]], before[larger[0]]
    assert young != survivor
    cluster(
        engine, Settings.load(database_url=db_url, link_distance=0.8), now=T0 + timedelta(hours=6)
    )
    after = membership(engine)
    assert {after[i] for i in smaller + larger} == {survivor}
    assert (young, "merged", survivor) in events(engine)
    assert (survivor, "grew", None) in events(engine)
    merged = stories(engine)[young]
    assert (merged.status, merged.merged_into_id, merged.article_count) == ("merged", survivor, 0)


def test_story_that_splits_keeps_its_id_on_the_larger_part(engine: Engine, db_url: str) -> None:
    larger, smaller = two_close_groups(engine, (3, 2))
    cluster(
        engine, Settings.load(database_url=db_url, link_distance=0.8), now=T0 + timedelta(hours=6)
    )
    (original,) = set(membership(engine).values())
    cluster(engine, Settings.load(database_url=db_url), now=T0 + timedelta(hours=6))
    after = membership(engine)
    assert {after[i] for i in larger} == {original}
    (part,) = {after[i] for i in smaller}
    assert part != original
    assert (part, "split", original) in events(engine)
    assert stories(engine)[original].article_count == 3


def test_story_goes_dormant_and_returns(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    feeds = add_feeds(engine, OUTLETS)
    topic = direction(5)
    for i in range(3):
        add_article(engine, feeds[OUTLETS[i]], f"tango{i}", T0 + timedelta(hours=i), near(topic, i))
    cluster(engine, settings, now=T0 + timedelta(hours=4))
    (story_id,) = set(membership(engine).values())

    quiet = cluster(engine, settings, now=T0 + timedelta(hours=100))
    assert quiet.dormant == 1
    assert stories(engine)[story_id].status == "dormant"
    again = cluster(engine, settings, now=T0 + timedelta(hours=101))
    assert again.dormant == 0  # idempotent: marked once

    for i in range(2):
        add_article(
            engine,
            feeds[OUTLETS[3 + i]],
            f"back{i}",
            T0 + timedelta(hours=110 + i),
            near(topic, 50 + i),
        )
    cluster(engine, settings, now=T0 + timedelta(hours=112))
    assert set(membership(engine).values()) == {story_id}
    assert stories(engine)[story_id].status == "active"
    assert [kind for sid, kind, _ in events(engine) if sid == story_id] == [
        "created",
        "dormant",
        "revived",
    ]

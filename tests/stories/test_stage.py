from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, select

from models import Article, Embedding, Story, StoryArticle
from models.types import vector_dims
from pipeline.db import make_engine, migrate, session_scope
from pipeline.embed.stage import embed
from pipeline.settings import Settings
from pipeline.stories.stage import cluster
from tests.factories import (
    T0,
    TopicEmbedder,
    add_article,
    add_feeds,
    add_story,
    direction,
    near,
    row_counts,
)

OUTLETS = ["Alpha", "Beta", "Gamma", "Delta"]


def seed_two_stories(engine: Engine) -> dict[str, list[int]]:
    feeds = add_feeds(engine, OUTLETS)
    quake, rates, stray = direction(1), direction(2), direction(3)
    ids: dict[str, list[int]] = {"quake": [], "rates": [], "stray": []}
    for i, outlet in enumerate(OUTLETS):
        when = T0 + timedelta(hours=i)
        ids["quake"].append(
            add_article(engine, feeds[outlet], f"quake {i}", when, near(quake, 10 + i))
        )
        ids["rates"].append(
            add_article(engine, feeds[outlet], f"rates {i}", when, near(rates, 20 + i))
        )
    ids["stray"].append(add_article(engine, feeds["Alpha"], "stray", T0, stray))
    return ids


def story_of(engine: Engine) -> dict[int, int]:
    with session_scope(engine) as session:
        return dict(session.execute(select(StoryArticle.article_id, StoryArticle.story_id)).all())


def test_stories_form_with_counts_and_title(engine: Engine, settings: Settings) -> None:
    ids = seed_two_stories(engine)
    report = cluster(engine, settings, now=T0 + timedelta(hours=12))
    assert (report.articles, report.clusters, report.noise, report.stories_created) == (9, 2, 1, 2)
    membership = story_of(engine)
    assert len({membership[i] for i in ids["quake"]}) == 1
    assert len({membership[i] for i in ids["rates"]}) == 1
    assert membership[ids["quake"][0]] != membership[ids["rates"][0]]
    assert ids["stray"][0] not in membership
    with session_scope(engine) as session:
        story = session.get_one(Story, membership[ids["quake"][0]])
        assert (story.article_count, story.source_count, story.status) == (4, 4, "active")
        assert story.title.startswith("quake ")
        assert (story.first_seen, story.last_seen) == (T0, T0 + timedelta(hours=3))
        assert story.centroid is not None
        assert np.isclose(np.linalg.norm(story.centroid), 1.0, atol=1e-5)


def test_a_storys_title_is_a_headline_not_a_date_or_a_section_label(
    engine: Engine, settings: Settings
) -> None:
    feeds = add_feeds(engine, OUTLETS)
    quake = direction(1)
    # The dated and labelled articles sit nearest the centroid; the headline is the least
    # central member, so only skipping the non-headlines picks it.
    # Each has its text (an article with neither text nor a headline joins no story).
    titles = ["August 17, 2011", "Friday, March 8, 2013 | 5:00 PM", "Daily Blotter"]
    for i, title in enumerate(titles):
        add_article(
            engine,
            feeds[OUTLETS[i]],
            title,
            T0 + timedelta(hours=i),
            near(quake, i),
            summary="A strong earthquake shook the coast of Chile overnight.",
        )
    add_article(
        engine,
        feeds[OUTLETS[3]],
        "Quake shakes the coast of Chile",
        T0 + timedelta(hours=3),
        near(quake, 9, spread=0.03),
    )
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    with session_scope(engine) as session:
        assert list(session.scalars(select(Story.title))) == ["Quake shakes the coast of Chile"]


def test_a_story_of_placeholder_titles_takes_its_central_texts_first_sentence(
    engine: Engine, settings: Settings
) -> None:
    """Eight articles whose scraped title is "en": the story is never titled "en"."""
    feeds = add_feeds(engine, OUTLETS)
    topic = direction(1)
    for i in range(8):
        add_article(
            engine,
            feeds[OUTLETS[i % 4]],
            "en",
            T0 + timedelta(hours=i),
            near(topic, i, spread=0.01 if i == 5 else 0.05),
            guid=f"en-{i}",
            content_hash=f"hash:en-{i}",
            summary=f"Story number {i} happened in town. It went on for a while.",
        )
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    with session_scope(engine) as session:
        (title,) = session.scalars(select(Story.title))
        central = session.scalars(select(Article.summary)).all()
    assert title != "en"
    assert title in {text.split(". ")[0] + "." for text in central}


def test_a_title_many_outlets_share_with_other_texts_is_no_headline(
    engine: Engine, settings: Settings
) -> None:
    feeds = add_feeds(engine, OUTLETS)
    topic = direction(1)
    for i in range(3):  # the most central three share a placeholder "headline"
        add_article(
            engine,
            feeds[OUTLETS[i]],
            "Breaking News Alert Today",
            T0 + timedelta(hours=i),
            near(topic, i, spread=0.01),
            guid=f"placeholder-{i}",
            content_hash=f"hash:placeholder-{i}",
            summary=f"Text {i} of its own.",
        )
    add_article(
        engine,
        feeds[OUTLETS[3]],
        "Quake shakes the coast of Chile - Delta - Delta News Network",
        T0 + timedelta(hours=3),
        near(topic, 9, spread=0.05),
        guid="quake",
        content_hash="hash:quake",
    )
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    with session_scope(engine) as session:
        assert list(session.scalars(select(Story.title))) == ["Quake shakes the coast of Chile"]
        # The article keeps its title as scraped.
        assert "Quake shakes the coast of Chile - Delta - Delta News Network" in set(
            session.scalars(select(Article.title))
        )


def test_rerun_on_the_same_window_changes_nothing(engine: Engine, settings: Settings) -> None:
    seed_two_stories(engine)
    now = T0 + timedelta(hours=12)
    cluster(engine, settings, now=now)
    before = (row_counts(engine), story_of(engine))
    again = cluster(engine, settings, now=now + timedelta(minutes=15))
    assert again.skipped
    assert (row_counts(engine), story_of(engine)) == before


def test_growing_story_keeps_its_id(engine: Engine, settings: Settings) -> None:
    ids = seed_two_stories(engine)
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    quake_story = story_of(engine)[ids["quake"][0]]
    feeds = add_feeds(engine, ["Epsilon"])
    late = add_article(
        engine, feeds["Epsilon"], "quake late", T0 + timedelta(hours=20), near(direction(1), 99)
    )
    report = cluster(engine, settings, now=T0 + timedelta(hours=24))
    assert not report.skipped
    assert report.stories_created == 0
    assert story_of(engine)[late] == quake_story
    with session_scope(engine) as session:
        story = session.get_one(Story, quake_story)
        assert (story.article_count, story.source_count) == (5, 5)
        assert story.last_seen == T0 + timedelta(hours=20)


def test_articles_outside_the_window_keep_their_story(engine: Engine, settings: Settings) -> None:
    ids = seed_two_stories(engine)
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    before = story_of(engine)
    report = cluster(engine, settings, now=T0 + timedelta(hours=settings.window_hours + 10))
    assert report.articles == 0
    assert story_of(engine) == before
    assert all(i in before for i in ids["quake"])


def test_same_input_gives_same_stories_and_ids(db_url: str, tmp_path_factory: object) -> None:

    results = []
    for _ in range(2):
        engine = make_engine(db_url)
        migrate(engine)
        with engine.begin() as conn:
            for table in (
                "story_articles",
                "stories",
                "cluster_runs",
                "embeddings",
                "articles",
                "feeds",
            ):
                conn.exec_driver_sql(f"DELETE FROM {table}")
        seed_two_stories(engine)
        cluster(engine, Settings.load(database_url=db_url), now=T0 + timedelta(hours=12))
        with session_scope(engine) as session:
            results.append(
                sorted(
                    session.execute(
                        select(Article.title, Story.title)
                        .join(StoryArticle, StoryArticle.article_id == Article.id)
                        .join(Story, Story.id == StoryArticle.story_id)
                    ).all()
                )
            )
        engine.dispose()
    assert results[0] == results[1]
    assert len(results[0]) == 8


def test_lone_follow_up_joins_its_story_after_the_window(
    engine: Engine, settings: Settings
) -> None:
    ids = seed_two_stories(engine)
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    quake_story = story_of(engine)[ids["quake"][0]]
    feeds = add_feeds(engine, ["Epsilon"])
    later = T0 + timedelta(hours=settings.window_hours + 30)
    follow_up = add_article(
        engine, feeds["Epsilon"], "quake follow-up", later, near(direction(1), 77)
    )
    unrelated = add_article(engine, feeds["Epsilon"], "other", later, direction(9))
    report = cluster(engine, settings, now=later + timedelta(hours=1))
    assert (report.clusters, report.stories_created) == (0, 0)
    membership = story_of(engine)
    assert membership[follow_up] == quake_story
    assert unrelated not in membership
    with session_scope(engine) as session:
        assert session.get_one(Story, quake_story).article_count == 5


def springfield_story(
    engine: Engine, settings: Settings, feeds: dict[str, int], topic: np.ndarray
) -> int:
    """Three reports of one shooting, clustered into one story; its id."""
    first = [
        "Man shot dead outside Springfield bar",
        "Springfield bar shooting: police name John Doe",
        "John Doe sought after Springfield bar killing",
    ]
    for i, title in enumerate(first):
        add_article(engine, feeds[OUTLETS[i]], title, T0 + timedelta(hours=i), near(topic, i))
    cluster(engine, settings, now=T0 + timedelta(hours=3))
    (old,) = set(story_of(engine).values())
    return old


@pytest.mark.parametrize(
    ("titles", "continues"),
    [
        (
            [
                "Springfield bar shooting: John Doe charged",
                "John Doe, Springfield gunman, in court",
            ],
            True,
        ),
        (
            [
                "Oakland gas station shooting leaves two hurt",
                "Oakland police hunt gas station gunman",
            ],
            False,
        ),
    ],
    ids=["same-names-months-later", "look-alike-event"],
)
def test_new_cluster_continues_an_old_story_only_with_shared_words(
    engine: Engine, settings: Settings, titles: list[str], continues: bool
) -> None:
    feeds = add_feeds(engine, OUTLETS)
    topic = direction(1)
    old = springfield_story(engine, settings, feeds, topic)

    later = T0 + timedelta(days=90)
    new = [
        add_article(
            engine, feeds[OUTLETS[i]], title, later + timedelta(hours=i), near(topic, 40 + i)
        )
        for i, title in enumerate(titles)
    ]
    report = cluster(engine, settings, now=later + timedelta(hours=3))
    membership = story_of(engine)
    assert report.clusters == 1
    assert (membership[new[0]] == old) is continues
    assert membership[new[0]] == membership[new[1]]


@pytest.mark.parametrize(
    ("title", "joins"),
    [
        ("John Doe, Springfield bar gunman, sentenced", True),
        ("Oakland gas station shooting leaves two hurt", False),
    ],
    ids=["same-names-months-later", "look-alike-event"],
)
def test_lone_article_joins_an_old_story_only_with_shared_words(
    engine: Engine, settings: Settings, title: str, joins: bool
) -> None:
    """A lone report months later (no second article to cluster with) goes to its old story
    when it names the same things, and stays alone when it only reads alike."""
    feeds = add_feeds(engine, OUTLETS)
    topic = direction(1)
    old = springfield_story(engine, settings, feeds, topic)

    later = T0 + timedelta(days=90)
    lone = add_article(engine, feeds[OUTLETS[0]], title, later, near(topic, 40))
    add_article(engine, feeds[OUTLETS[1]], "Unrelated council vote", later, direction(9))
    report = cluster(engine, settings, now=later + timedelta(hours=1))
    assert report.clusters == 0
    assert (story_of(engine).get(lone) == old) is joins


@pytest.mark.parametrize(
    ("title", "pairs"),
    [
        ("John Doe, Springfield bar gunman, sentenced", True),
        ("Oakland gas station shooting leaves two hurt", False),
    ],
    ids=["same-names-months-later", "look-alike-event"],
)
def test_lone_article_pairs_with_an_older_lone_article(
    engine: Engine, settings: Settings, title: str, pairs: bool
) -> None:
    """Two reports of one event, months apart and each alone in its window, found a story
    together when they name the same things; a look-alike report stays alone. The next run
    keeps the pair."""
    feeds = add_feeds(engine, OUTLETS)
    topic = direction(1)
    first = add_article(
        engine, feeds[OUTLETS[0]], "Springfield bar shooting: John Doe held", T0, near(topic, 1)
    )
    add_article(engine, feeds[OUTLETS[1]], "Council votes on budget", T0, direction(8))
    assert cluster(engine, settings, now=T0 + timedelta(hours=1)).clusters == 0
    assert story_of(engine) == {}

    later = T0 + timedelta(days=90)
    lone = add_article(engine, feeds[OUTLETS[2]], title, later, near(topic, 40))
    add_article(engine, feeds[OUTLETS[3]], "Unrelated council vote", later, direction(9))
    report = cluster(engine, settings, now=later + timedelta(hours=1))
    assert report.clusters == 0
    membership = story_of(engine)
    if not pairs:
        assert (report.stories_created, membership) == (0, {})
        return
    assert report.stories_created == 1
    assert membership == {first: membership[lone], lone: membership[lone]}
    with session_scope(engine) as session:
        story = session.get_one(Story, membership[lone])
        assert (story.article_count, story.source_count) == (2, 2)
        assert (story.first_seen, story.last_seen) == (T0, later)
    # The next run sees a changed window and plans again: the pair keeps its story.
    add_article(engine, feeds[OUTLETS[0]], "Chess final drawn", later, direction(10))
    report = cluster(engine, settings, now=later + timedelta(hours=2))
    assert (report.skipped, report.stories_created) == (False, 0)
    assert story_of(engine) == membership


def add_unembedded(engine: Engine, feeds: dict[str, int], titles: list[str], at: datetime) -> None:
    """One article per title, an hour apart from ``at``, across the outlets, no vector yet."""
    with session_scope(engine) as session:
        session.add_all(
            Article(
                feed_id=feeds[OUTLETS[i % len(OUTLETS)]],
                guid=title,
                url=None,
                title=title,
                summary="",
                published_at=at + timedelta(hours=i),
                published_estimated=False,
                fetched_at=at,
                content_hash=f"hash:{title}",
            )
            for i, title in enumerate(titles)
        )


def centroid_dims(engine: Engine) -> dict[int, int]:
    """Each story's centroid length as the database stores it (pgvector's own count on
    PostgreSQL), by story id."""
    with session_scope(engine) as session:
        return dict(session.execute(select(Story.id, vector_dims(Story.centroid))).all())


def test_a_768_dimensional_model_embeds_and_clusters(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url, model_name="mpnet-like")
    feeds = add_feeds(engine, OUTLETS)
    titles = [f"Quake strikes coast, report {i}" for i in range(4)]
    add_unembedded(engine, feeds, [*titles, *(f"Rates held, report {i}" for i in range(4))], T0)
    report = embed(engine, settings, TopicEmbedder("mpnet-like", 768))
    assert report.embedded == 8
    clustered = cluster(engine, settings, now=T0 + timedelta(hours=12))
    assert (clustered.clusters, clustered.stories_created) == (2, 2)
    assert set(centroid_dims(engine).values()) == {768}
    with session_scope(engine) as session:
        assert {len(v) for v in session.scalars(select(Embedding.vector))} == {768}
        assert {story.model for story in session.scalars(select(Story))} == {"mpnet-like"}


def test_stories_of_a_model_of_another_dimension_are_never_compared(
    engine: Engine, db_url: str
) -> None:
    """384-d stories of the old model, one recent and one long gone, beside the new model's
    768-d window of the same topic: the run clusters without comparing the two (any
    comparison fails on the lengths), and the old stories stay as they were."""
    old = Settings.load(database_url=db_url, model_name="old-384")
    new = Settings.load(database_url=db_url, model_name="new-768")
    feeds = add_feeds(engine, OUTLETS)
    add_unembedded(engine, feeds, [f"Quake strikes coast, report {i}" for i in range(4)], T0)
    embed(engine, old, TopicEmbedder("old-384", 384))
    cluster(engine, old, now=T0 + timedelta(hours=4))
    (recent,) = centroid_dims(engine)
    # Long gone, and near everything: an older story the new window's clusters could ask for.
    ancient = add_story(
        engine,
        "Quake of long ago",
        status="dormant",
        first_seen=T0 - timedelta(days=200),
        last_seen=T0 - timedelta(days=200),
        model="old-384",
        centroid=direction(5),
    )
    # The next window holds none of the old articles; the old story is still recent.
    later = T0 + timedelta(hours=old.window_hours + 8)
    add_unembedded(
        engine,
        feeds,
        [*(f"Quake aftershock, report {i}" for i in range(3)), "Museum opens wing"],
        later,
    )
    embed(engine, new, TopicEmbedder("new-768", 768))
    before = story_of(engine)
    report = cluster(engine, new, now=later + timedelta(hours=4))
    assert (report.clusters, report.stories_created) == (1, 1)
    dims = centroid_dims(engine)
    assert dims.pop(recent) == dims.pop(ancient) == 384
    assert set(dims.values()) == {768}
    after = story_of(engine)
    assert {a: s for a, s in after.items() if a in before} == before
    with session_scope(engine) as session:
        assert session.get_one(Story, recent).article_count == 4


def test_a_story_continued_under_a_new_model_is_counted_by_its_vectors(
    engine: Engine, db_url: str, settings: Settings
) -> None:
    """After the model setting changes and the embed stage has given every article a vector
    of the new model, a story the new run continues is that model's: all its members count,
    and its centroid is of the new vectors."""
    ids = seed_two_stories(engine)
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    quake = story_of(engine)[ids["quake"][0]]
    with session_scope(engine) as session:
        for old in session.scalars(select(Embedding)).all():
            session.add(
                Embedding(
                    article_id=old.article_id,
                    model="next",
                    dim=old.dim,
                    vector=old.vector,
                    content_hash=old.content_hash,
                    created_at=old.created_at,
                )
            )
    feeds = add_feeds(engine, ["Epsilon"])
    late = add_article(
        engine, feeds["Epsilon"], "quake 5", T0 + timedelta(hours=5), near(direction(1), 60), "next"
    )
    cluster(
        engine, Settings.load(database_url=db_url, model_name="next"), now=T0 + timedelta(hours=13)
    )
    assert story_of(engine)[late] == quake
    with session_scope(engine) as session:
        story = session.get_one(Story, quake)
        assert (story.model, story.article_count, story.source_count) == ("next", 5, 5)

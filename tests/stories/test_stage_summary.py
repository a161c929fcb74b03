"""The cluster stage stores each story's summary, keeps it in step with the story's members,
and leaves it alone when nothing changed (both backends)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, delete, select

from models import StoryArticle, StorySentence
from pipeline.db import session_scope
from pipeline.settings import Settings
from pipeline.stories.stage import cluster
from tests.factories import T0, add_article, add_feeds, direction, mix, near

OUTLETS = ["Alpha", "Beta", "Gamma", "Delta"]
LEADS = [
    "French police raided an apartment in Saint-Denis before dawn on Wednesday.",
    "Investigators believe the organiser of the attacks was inside the building.",
    "Seven people were taken into custody and two suspects died in the operation.",
    "Residents of the northern suburb were told to stay indoors during the assault.",
    "The interior minister said the operation had prevented a new attack on the city.",
]
PAYWALL = "Please check your inbox and confirm the link we sent to keep reading this story."


def seed(engine: Engine) -> dict[str, list[int]]:
    """A raid story of four articles whose teasers open with a site's paywall notice, a
    storm story with the same notice, and a stray article."""
    feeds = add_feeds(engine, OUTLETS)
    raid, storm = direction(1), direction(2)
    ids: dict[str, list[int]] = {"raid": [], "storm": []}
    for i, outlet in enumerate(OUTLETS):
        when = T0 + timedelta(hours=i)
        ids["raid"].append(
            add_article(
                engine,
                feeds[outlet],
                f"Saint-Denis raid {i}",
                when,
                near(raid, 10 + i),
                summary=f"{PAYWALL} {LEADS[i]}",
                url=f"https://{outlet.lower()}.example/raid-{i}",
            )
        )
        ids["storm"].append(
            add_article(
                engine,
                feeds[outlet],
                f"Storm lashes the coast {i}",
                when,
                near(storm, 20 + i),
                summary=f"{PAYWALL} A storm cut power to thousands of homes on the coast, {i}.",
            )
        )
    return ids


def summaries(engine: Engine) -> dict[int, list[tuple[int, int, str]]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                StorySentence.story_id,
                StorySentence.position,
                StorySentence.article_id,
                StorySentence.sentence,
            ).order_by(StorySentence.story_id, StorySentence.position)
        ).all()
    found: dict[int, list[tuple[int, int, str]]] = {}
    for story_id, position, article_id, sentence in rows:
        found.setdefault(story_id, []).append((position, article_id, sentence))
    return found


def story_of(engine: Engine, article_id: int) -> int:
    with session_scope(engine) as session:
        return session.get_one(StoryArticle, article_id).story_id


def test_every_story_gets_a_summary_of_its_own_sentences(
    engine: Engine, settings: Settings
) -> None:
    ids = seed(engine)
    cluster(engine, settings, now=T0 + timedelta(hours=12))
    raid = story_of(engine, ids["raid"][0])
    stored = summaries(engine)
    assert set(stored) == {raid, story_of(engine, ids["storm"][0])}
    assert [position for position, _, _ in stored[raid]] == [1, 2, 3]
    for _, article_id, sentence in stored[raid]:
        assert article_id in ids["raid"]
        assert sentence == LEADS[ids["raid"].index(article_id)]
    assert all(PAYWALL not in sentence for rows in stored.values() for _, _, sentence in rows)


def test_the_summary_follows_the_members_and_an_unchanged_rerun_changes_nothing(
    engine: Engine, settings: Settings
) -> None:
    ids = seed(engine)
    now = T0 + timedelta(hours=12)
    cluster(engine, settings, now=now)
    raid = story_of(engine, ids["raid"][0])
    before = summaries(engine)
    rerun = cluster(engine, settings, now=now)
    assert rerun.skipped
    assert summaries(engine) == before
    # A new article nearest the story's centre joins it: its lead comes first.
    feeds = add_feeds(engine, ["Epsilon"])
    newest = add_article(
        engine,
        feeds["Epsilon"],
        "Saint-Denis raid 4",
        T0 + timedelta(hours=5),
        direction(1),
        summary=LEADS[4],
    )
    cluster(engine, settings, now=now + timedelta(minutes=5))
    assert story_of(engine, newest) == raid
    after = summaries(engine)
    assert after[raid][0] == (1, newest, LEADS[4])
    assert after[raid] != before[raid]


def test_a_story_made_before_summaries_gets_one_on_the_next_run(
    engine: Engine, settings: Settings
) -> None:
    seed(engine)
    now = T0 + timedelta(hours=12)
    cluster(engine, settings, now=now)
    expected = summaries(engine)
    with session_scope(engine) as session:
        session.execute(delete(StorySentence))
    report = cluster(engine, settings, now=now)
    assert report.skipped
    assert summaries(engine) == expected


def test_a_merged_story_loses_its_summary_to_the_survivor(engine: Engine, db_url: str) -> None:
    # Two groups 0.3 apart in cosine: two stories at link distance 0.6, one at 0.8.
    feeds = add_feeds(engine, OUTLETS)
    a = direction(1)
    b = mix(a, direction(2), 0.3)
    groups: list[list[int]] = [[], []]
    for group, (center, count) in enumerate([(a, 2), (b, 3)]):
        for i in range(count):
            groups[group].append(
                add_article(
                    engine,
                    feeds[OUTLETS[i]],
                    f"group {group} article {i}",
                    T0 + timedelta(hours=i),
                    near(center, 10 * (group + 1) + i),
                    summary=LEADS[i + 2 * group],
                )
            )
    now = T0 + timedelta(hours=6)
    cluster(engine, Settings.load(database_url=db_url), now=now)
    young, survivor = story_of(engine, groups[0][0]), story_of(engine, groups[1][0])
    assert young != survivor
    assert set(summaries(engine)) == {young, survivor}
    cluster(engine, Settings.load(database_url=db_url, link_distance=0.8), now=now)
    assert story_of(engine, groups[0][0]) == survivor
    after = summaries(engine)
    assert set(after) == {survivor}
    assert {article for _, article, _ in after[survivor]} <= set(groups[0] + groups[1])

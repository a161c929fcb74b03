"""The bundled demo through the real pipeline: real feeds files, real model, real HDBSCAN."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from models import StoryArticle
from pipeline.cli import cli
from pipeline.db import make_engine, session_scope
from pipeline.serve.schema import Summary
from tests.conftest import run_demo
from tests.demo_labels import LABELS, STORIES, demo_stories
from tests.factories import row_counts


@pytest.fixture
def demo_db(db_url: str) -> tuple[str, str]:
    """The database after one `storyline demo`, and what the command printed."""
    return db_url, run_demo(db_url)


def test_demo_shows_each_story_as_its_own_multi_outlet_cluster(demo_db: tuple[str, str]) -> None:
    db_url, printed = demo_db
    engine = make_engine(db_url)
    demo = demo_stories(engine)
    assert demo.guids == set(LABELS)
    labels_in, outlets_in = demo.labels_in, demo.outlets_in

    # no story mixes two real-world stories
    mixed = {story: dict(labels) for story, labels in labels_in.items() if len(labels) > 1}
    assert mixed == {}
    for gold in STORIES:
        clusters = [story for story, labels in labels_in.items() if gold in labels]
        assert clusters, f"{gold} formed no story"
        # the story's biggest cluster is covered by at least three outlets
        assert max(len(outlets_in[story]) for story in clusters) >= 3
        clustered = sum(labels_in[story][gold] for story in clusters)
        total = sum(1 for label in LABELS.values() if label == gold)
        assert clustered / total >= 0.7, f"{gold}: only {clustered}/{total} articles clustered"
    # unrelated one-off items stay out of stories
    singletons = [label for label, n in Counter(LABELS.values()).items() if n == 1]
    assert not any(labels.keys() & set(singletons) for labels in labels_in.values())
    engine.dispose()

    assert "story" in printed
    assert "outlets" in printed


def test_demo_twice_leaves_the_same_rows(demo_db: tuple[str, str]) -> None:
    db_url, first_output = demo_db
    engine = make_engine(db_url)
    before = row_counts(engine)
    with session_scope(engine) as session:
        memberships = dict(
            session.execute(select(StoryArticle.article_id, StoryArticle.story_id)).all()
        )
    result = CliRunner().invoke(cli, ["demo", "--db", db_url])
    assert result.exit_code == 0, result.output
    assert row_counts(engine) == before
    with session_scope(engine) as session:
        assert (
            dict(session.execute(select(StoryArticle.article_id, StoryArticle.story_id)).all())
            == memberships
        )
    assert result.stdout == first_output
    engine.dispose()


def test_stories_json_contract(demo_db: tuple[str, str]) -> None:
    db_url, _ = demo_db
    result = CliRunner().invoke(
        cli, ["stories", "--db", db_url, "--format", "json", "--limit", "2"]
    )
    assert result.exit_code == 0, result.output
    stories = json.loads(result.stdout)
    assert len(stories) == 2
    for story in stories:
        assert list(story) == list(Summary.model_fields)
        assert story["articles"] >= story["outlets"] >= 1
        assert story["first_seen"] <= story["last_seen"]
    # Ranked as the API ranks: articles of the last 24 h of the pipeline clock, then outlets.
    keys = [(-s["articles_last_24h"], -s["outlets"], -s["articles"]) for s in stories]
    assert keys == sorted(keys)

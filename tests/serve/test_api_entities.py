"""People, places and organisations in the API and the CLI's JSON, on the demo's database
(both backends): each story's top entities, the entity filter, one entity."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, distinct, func, select

from models import Article, ArticleEntity, Entity, Feed, Story, StoryArticle
from pipeline.cli import cli
from pipeline.db import make_engine, session_scope
from pipeline.entities.names import fold
from pipeline.serve.api import create_app
from pipeline.serve.entities import KIND_ORDER, PER_KIND, SINGLE_ARTICLE_STORY
from pipeline.settings import Settings
from tests.conftest import demo_database
from tests.serve.problems import assert_invalid


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with demo_database(request, tmp_path_factory, "api_entities") as url:
        yield url


@pytest.fixture(scope="module")
def demo(demo_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings.load(database_url=demo_url))) as client:
        yield client


@pytest.fixture(scope="module")
def demo_engine(demo_url: str) -> Iterator[Engine]:
    engine = make_engine(demo_url)
    yield engine
    engine.dispose()


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def counts(engine: Engine) -> dict[int, dict[int, tuple[str, str, int, int]]]:
    """Per story, each entity its articles name: (kind, name, articles, outlets)."""
    out: dict[int, dict[int, tuple[str, str, int, int]]] = defaultdict(dict)
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                StoryArticle.story_id,
                Entity.id,
                Entity.kind,
                Entity.name,
                func.count(distinct(ArticleEntity.article_id)),
                func.count(distinct(Feed.outlet)),
            )
            .join(ArticleEntity, ArticleEntity.article_id == StoryArticle.article_id)
            .join(Entity, Entity.id == ArticleEntity.entity_id)
            .join(Article, Article.id == StoryArticle.article_id)
            .join(Feed, Feed.id == Article.feed_id)
            .group_by(StoryArticle.story_id, Entity.id, Entity.kind, Entity.name)
        )
        for story_id, entity_id, kind, name, articles, outlets in rows:
            out[story_id][entity_id] = (kind, name, articles, outlets)
    return out


def test_each_story_carries_its_top_entities_by_kind(demo: TestClient, demo_engine: Engine) -> None:
    stories = get(demo, "/api/stories")["items"]
    truth = counts(demo_engine)
    assert stories
    assert all(story["entities"] for story in stories)
    for story in stories:
        shown = story["entities"]
        kinds = [entity["kind"] for entity in shown]
        assert kinds == sorted(kinds, key=KIND_ORDER.index), kinds
        for kind in KIND_ORDER:
            of_kind = [entity for entity in shown if entity["kind"] == kind]
            assert len(of_kind) <= PER_KIND
            ranks = [(-e["articles"], -e["outlets"]) for e in of_kind]
            assert ranks == sorted(ranks)
        for entity in shown:
            kind, name, articles, outlets = truth[story["id"]][entity["id"]]
            assert (entity["kind"], entity["name"]) == (kind, name)
            assert (entity["articles"], entity["outlets"]) == (articles, outlets)
            if story["articles"] >= SINGLE_ARTICLE_STORY:
                assert articles >= 2
        names = [fold(entity["name"]) for entity in shown]
        assert len(names) == len(set(names)), names  # a name once, in one kind
        # the story page says the same
        assert get(demo, f"/api/stories/{story['id']}")["entities"] == shown


def test_the_demo_stories_name_their_people_and_places(demo: TestClient) -> None:
    stories = get(demo, "/api/stories")["items"]

    def names(subject: str) -> set[tuple[str, str]]:
        story = next(story for story in stories if subject in story["title"])
        return {(entity["kind"], entity["name"]) for entity in story["entities"]}

    assert {("person", "Salah Abdeslam"), ("place", "Brussels")} <= names("Brussels")
    assert {("place", "Raqqa"), ("organisation", "Islamic State")} <= names("Raqqa")
    assert ("person", "Vladimir Putin") in names("Sinai")


def test_keywords_leave_out_the_storys_names(demo: TestClient) -> None:
    for story in get(demo, "/api/stories")["items"]:
        named = {word for entity in story["entities"] for word in fold(entity["name"]).split()}
        words = {word for keyword in story["keywords"] for word in fold(keyword).split()}
        assert not named & words, (story["title"], named & words)


def test_the_entity_filter_lists_the_stories_that_name_it(
    demo: TestClient, demo_engine: Engine
) -> None:
    truth = counts(demo_engine)
    with session_scope(demo_engine) as session:
        live = set(session.scalars(select(Story.id).where(Story.status.in_(["active", "dormant"]))))
        paris = session.scalar(select(Entity.id).where(Entity.key == "paris"))
        abdeslam = session.scalar(select(Entity.id).where(Entity.key == "salah abdeslam"))
    assert paris is not None
    assert abdeslam is not None
    for entity_id in (paris, abdeslam):
        expected = {story for story, named in truth.items() if entity_id in named} & live
        page = get(demo, "/api/stories", entity=entity_id, limit=200)
        assert {story["id"] for story in page["items"]} == expected
        assert page["total"] == len(expected) > 0
    everything = get(demo, "/api/stories")["total"]
    assert get(demo, "/api/stories", entity=abdeslam)["total"] < everything
    # an id no entity has: no story, not an error
    assert get(demo, "/api/stories", entity=2**31 - 1)["total"] == 0


@pytest.mark.parametrize("value", ["0", "-3", "abc", str(2**31), "1.5"])
def test_a_bad_entity_id_is_refused(demo: TestClient, value: str) -> None:
    assert_invalid(demo.get("/api/stories", params={"entity": value}), "entity")


def test_one_entity(demo: TestClient, demo_engine: Engine) -> None:
    with session_scope(demo_engine) as session:
        paris = session.execute(select(Entity.id, Entity.name).where(Entity.key == "paris")).one()
        articles = session.scalar(
            select(func.count())
            .select_from(ArticleEntity)
            .where(ArticleEntity.entity_id == paris[0])
        )
    entity = get(demo, f"/api/entities/{paris[0]}")
    assert entity["kind"] == "place"
    assert entity["name"] == paris[1] == "Paris"
    assert entity["articles"] == articles
    assert entity["stories"] == get(demo, "/api/stories", entity=paris[0])["total"]
    for unknown in (2**31 - 1, 2**31, 0):
        response = demo.get(f"/api/entities/{unknown}")
        assert response.status_code == 404
        assert response.json()["detail"] == f"entity {unknown} not found"


def test_the_cli_json_carries_them_and_filters_alike(demo: TestClient, demo_url: str) -> None:
    served = get(demo, "/api/stories", limit=200)["items"]
    printed = json.loads(
        CliRunner().invoke(cli, ["stories", "--format", "json", "--db", demo_url]).stdout
    )
    assert [story["entities"] for story in printed] == [story["entities"] for story in served]
    entity = served[0]["entities"][0]["id"]
    result = CliRunner().invoke(
        cli, ["stories", "--format", "json", "--entity", str(entity), "--db", demo_url]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == get(demo, "/api/stories", entity=entity, limit=200)["items"]
    refused = CliRunner().invoke(cli, ["stories", "--entity", "0", "--db", demo_url])
    assert refused.exit_code == 2
    assert "Invalid value for '--entity'" in refused.output


def test_breaking_and_related_stories_carry_the_same_entities_and_lead(
    demo: TestClient,
) -> None:
    listed = {story["id"]: story for story in get(demo, "/api/stories", limit=200)["items"]}
    trending = get(demo, "/api/trending", hours=48)["items"]
    assert trending
    related = [
        item
        for story_id in listed
        for item in get(demo, f"/api/stories/{story_id}/related")["items"]
    ]
    assert related
    for story in trending + related:
        assert story["entities"] == listed[story["id"]]["entities"]
        assert story["lead"] == listed[story["id"]]["lead"]
    assert any(story["entities"] for story in trending)

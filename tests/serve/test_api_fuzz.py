"""The HTTP API fuzzed from its own OpenAPI schema (schemathesis), on SQLite and PostgreSQL.

Every operation gets the schema's boundary cases (schemathesis' coverage phase) and a bounded
number of generated requests, valid and invalid, against a database that the real cluster
stage filled from factory rows: stories that grew, merged, split and went dormant. Any 5xx,
undocumented status code or content type, or body that does not match the documented schema
fails the test. Generation is derandomized, so a run repeats exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import checks
from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError

from models import Article, Story, StoryEvent
from pipeline.db import make_engine, migrate, session_scope
from pipeline.serve.api import create_app
from pipeline.settings import Settings
from pipeline.stories.stage import cluster
from pipeline.stories.status import StoryStatus
from tests.conftest import create_pg_database, drop_pg_database
from tests.factories import T0, add_article, add_feeds, direction, mix, near

# Names with a space, an apostrophe and non-ASCII letters, for the outlet filter.
OUTLETS = ["Alpha", "Beta Times", "Gamma's Post", "Délta", "Ελληνικά"]
CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
CHECKS = [checks.not_a_server_error, *CONFORMANCE]
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    # How long generating an example takes depends on the machine, not on the API.
    suppress_health_check=[HealthCheck.too_slow],
)


def seed_stories(engine: Engine, db_url: str) -> None:
    """Stories with a lineage, made by the cluster stage from factory articles.

    Two pairs of close topics: the first run keeps all four apart, a wider link distance
    merges each pair, the default splits them again; a late topic then leaves the others
    dormant. So the lists hold active, dormant and merged stories, and the details have
    articles from several outlets, hourly timelines and created/merged/split/dormant events."""
    feeds = add_feeds(engine, OUTLETS)
    topics = {"quake": direction(1), "vote": direction(3)}
    for n, (name, centre) in enumerate(list(topics.items())):
        topics[f"{name} aftermath"] = mix(centre, direction(10 + n), 0.3)
    for n, (name, centre) in enumerate(topics.items()):
        for i in range(3):
            add_article(
                engine,
                feeds[OUTLETS[(n + i) % len(OUTLETS)]],
                f"{name.title()} in Iquique, report {i}",
                T0 + timedelta(hours=i),
                near(centre, 100 * n + i),
            )
    default = Settings.load(database_url=db_url)
    wide = Settings.load(database_url=db_url, link_distance=0.8)
    for run in (default, wide, default):
        cluster(engine, run, now=T0 + timedelta(hours=6))
    late = direction(42)
    for i in range(3):
        add_article(
            engine,
            feeds[OUTLETS[i]],
            f"Late news {i}: Ünïcode ß",
            T0 + timedelta(hours=200 + i),
            near(late, 900 + i),
        )
    cluster(engine, default, now=T0 + timedelta(hours=203))
    # Text read from pages, a page given up on, and an article in no story.
    stray = add_article(engine, feeds["Alpha"], "Stray note", T0 + timedelta(hours=204), late)
    with session_scope(engine) as session:
        for article in session.scalars(select(Article).order_by(Article.id).limit(2)):
            article.body, article.extract_state = f"Body of {article.title}.\n\nMore.", "ok"
        skipped = session.get(Article, stray)
        assert skipped is not None
        skipped.extract_state, skipped.extract_reason = "skipped", "robots.txt disallows it"
    with session_scope(engine) as session:
        kinds = set(session.scalars(select(StoryEvent.kind).distinct()))
        statuses = set(session.scalars(select(Story.status).distinct()))
    assert {"created", "merged", "split", "dormant"} <= kinds, kinds
    assert {"active", "dormant", "merged"} <= statuses, statuses


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def seeded_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    """The API on a database seeded once per backend, shared by every operation's test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'storyline.db'}"
    else:
        admin: Engine = request.getfixturevalue("pg_admin")
        url = create_pg_database(admin, prefix="storyline_fuzz")
    engine = make_engine(url)
    try:
        migrate(engine)
        seed_stories(engine, url)
        app = create_app(Settings.load(database_url=url))
        yield app
        # schemathesis keeps an app's lifespan open until the interpreter exits: close the
        # app's connections here, before the database is dropped.
        app.state.engine.dispose()
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(admin, url)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def unreadable_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    """The API on a database it cannot open: a file in a missing folder, a closed port."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'missing' / 'storyline.db'}"
    else:
        url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1"
    app = create_app(Settings.load(database_url=url))
    yield app
    app.state.engine.dispose()


# The schema does not depend on the data: it is read once, from an app on a database never
# opened, so that pytest lists one test per operation; each test calls the app of its fixture.
# (Not `schemathesis.pytest.from_fixture`: schemathesis 4.32 reads `Node._nodeid` there, which
# pytest 9.2 removed.)
schema = schemathesis.openapi.from_dict(
    create_app(Settings.load(database_url="sqlite://")).openapi()
)


@settings(FUZZ, max_examples=300)
@schema.parametrize()
def test_api_conforms_to_its_schema(case: schemathesis.Case[Any], seeded_app: FastAPI) -> None:
    case.call_and_validate(app=seeded_app, checks=CHECKS)


@settings(FUZZ, max_examples=15)
@schema.parametrize()
def test_api_without_its_database_still_conforms(
    case: schemathesis.Case[Any], unreadable_app: FastAPI
) -> None:
    # A 503 is the right answer here, so not_a_server_error is left out: it must be documented.
    case.call_and_validate(app=unreadable_app, checks=CONFORMANCE)


def test_every_story_and_status_conforms(seeded_app: FastAPI) -> None:
    """Generated ids rarely exist: each seeded story, its articles, and each status's list,
    once; and the articles in no story."""
    with session_scope(seeded_app.state.engine) as session:
        story_ids = list(session.scalars(select(Story.id).order_by(Story.id)))
    one_story = schema["/api/stories/{story_id}"]["GET"]
    listing = schema["/api/stories"]["GET"]
    cases = [one_story.Case(path_parameters={"story_id": story_id}) for story_id in story_ids]
    cases += [listing.Case(query={"status": s.value, "limit": 200}) for s in StoryStatus]
    articles = schema["/api/articles"]["GET"]
    cases += [articles.Case(query={"story": story_id}) for story_id in story_ids]
    cases += [articles.Case(query={"unclustered": "true", "limit": 200})]
    for case in cases:
        response = case.call_and_validate(app=seeded_app, checks=CHECKS)
        assert response.status_code == 200, response.text


def test_a_value_the_database_refuses_is_a_documented_422() -> None:
    """The DataError backstop, which no known request reaches any more, answers in the 422
    shape the schema documents (its "detail" was a string, the schema's is a list)."""
    app = create_app(Settings.load(database_url="sqlite://"))

    @app.get("/refused")
    def refused() -> None:
        raise DataError("SELECT 1", {}, ValueError("integer out of range"))

    with TestClient(app) as client:
        response = client.get("/refused")
    assert response.status_code == 422
    # Judged as if /api/stories had sent it: the schema's 422 for the listing.
    schema["/api/stories"]["GET"].Case().validate_response(response, checks=CONFORMANCE)
    assert response.json()["message"].startswith("invalid request: ")

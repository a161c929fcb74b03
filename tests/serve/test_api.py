"""The HTTP API: on a database the demo filled (both backends), on exact rows made by
factories, and once through the real `storyline serve` over a socket."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from models import Article, ClusterRun, Feed, Story, StoryArticle, StoryEvent, StoryHour
from pipeline.cli import cli
from pipeline.db import make_engine, session_scope
from pipeline.serve.api import create_app
from pipeline.settings import Settings
from pipeline.stories.status import StoryStatus
from tests.conftest import demo_database
from tests.factories import T0, add_article, add_cluster_run, add_feeds, add_story
from tests.serve.problems import assert_invalid


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database after one `storyline demo`: six outlets, five stories."""
    with demo_database(request, tmp_path_factory, "api") as url:
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


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_health(demo: TestClient) -> None:
    body = get(demo, "/api/health")
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["stories"] == 5
    assert datetime.fromisoformat(body["last_run_at"]).tzinfo is not None


def test_health_is_503_when_the_database_is_unreachable() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1"
    with TestClient(create_app(Settings.load(database_url=url))) as client:
        response = client.get("/api/health")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "cannot be read" in detail
    # a response never names the database: no host, port, user, database or driver
    for secret in ("127.0.0.1", ":1", "postgres", "none", "psycopg", "connection"):
        assert secret not in detail, detail


def test_list_is_ranked_by_the_last_day_then_outlets(demo: TestClient) -> None:
    page = get(demo, "/api/stories")
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (20, 0)
    assert page["updated_at"] is not None
    by_last_seen = sorted(page["items"], key=lambda s: s["last_seen"], reverse=True)
    ranked = sorted(
        by_last_seen, key=lambda s: (-s["articles_last_24h"], -s["outlets"], -s["articles"])
    )
    assert ids(page) == [s["id"] for s in ranked]
    assert set(page["items"][0]) == {
        "id",
        "title",
        "keywords",
        "status",
        "articles",
        "outlets",
        "first_seen",
        "last_seen",
        "articles_last_24h",
        "lead",
        "entities",
    }


def test_summaries_match_the_tables(demo: TestClient, demo_engine: Engine) -> None:
    with session_scope(demo_engine) as session:
        clock = session.scalar(select(ClusterRun.now).where(ClusterRun.status == "ok"))
        members = session.execute(
            select(StoryArticle.story_id, Feed.outlet, Article.published_at)
            .join(Article, Article.id == StoryArticle.article_id)
            .join(Feed, Feed.id == Article.feed_id)
        ).all()
    assert clock is not None
    articles: Counter[int] = Counter(story for story, _, _ in members)
    outlets: dict[int, set[str]] = defaultdict(set)
    recent: Counter[int] = Counter()
    for story, outlet, published in members:
        outlets[story].add(outlet)
        if clock - timedelta(hours=24) < published <= clock:
            recent[story] += 1
    for item in get(demo, "/api/stories")["items"]:
        assert item["articles"] == articles[item["id"]]
        assert item["outlets"] == len(outlets[item["id"]])
        assert item["articles_last_24h"] == recent[item["id"]]


@pytest.mark.parametrize(
    ("order", "key"),
    [
        ("recent", lambda s: (s["last_seen"],)),
        ("size", lambda s: (s["articles"], s["last_seen"])),
    ],
    ids=["recent", "size"],
)
def test_orders(demo: TestClient, order: str, key: Any) -> None:
    items = get(demo, "/api/stories", order=order)["items"]
    assert len(items) == 5
    assert [key(s) for s in items] == sorted((key(s) for s in items), reverse=True)


def test_paging_keeps_the_total_and_the_order(demo: TestClient) -> None:
    everything = ids(get(demo, "/api/stories"))
    pages = [get(demo, "/api/stories", limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [p["total"] for p in pages] == [5, 5, 5, 5]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert [i for p in pages for i in ids(p)] == everything


def test_text_query_matches_title_or_keyword_in_any_case(demo: TestClient) -> None:
    page = get(demo, "/api/stories", q="RAQQA")
    assert page["total"] == 1
    story = page["items"][0]
    assert "raqqa" in story["title"].lower() or "raqqa" in story["keywords"]
    assert get(demo, "/api/stories", q="no such words anywhere")["total"] == 0
    # The keywords are matched one by one, never as the JSON text of the list.
    assert get(demo, "/api/stories", q='", "')["total"] == 0


def test_outlet_filter(demo: TestClient, demo_engine: Engine) -> None:
    with session_scope(demo_engine) as session:
        outlet, expected = "", set()
        for name in session.scalars(select(Feed.outlet).distinct()):
            stories = set(
                session.scalars(
                    select(StoryArticle.story_id)
                    .join(Article, Article.id == StoryArticle.article_id)
                    .join(Feed, Feed.id == Article.feed_id)
                    .where(Feed.outlet == name)
                )
            )
            if 0 < len(stories) < 5:
                outlet, expected = name, stories
    assert outlet, "every outlet covers every story: the filter would show nothing"
    assert set(ids(get(demo, "/api/stories", outlet=outlet))) == expected
    assert get(demo, "/api/stories", outlet="Nobody's Gazette")["total"] == 0


def test_time_range_selects_overlapping_stories(demo: TestClient) -> None:
    items = get(demo, "/api/stories")["items"]
    latest_start = max(s["first_seen"] for s in items)
    earliest_end = min(s["last_seen"] for s in items)
    after = get(demo, "/api/stories", since=latest_start)
    assert {s["id"] for s in after["items"]} == {
        s["id"] for s in items if s["last_seen"] >= latest_start
    }
    before = get(demo, "/api/stories", until=earliest_end.replace("Z", ""))
    assert {s["id"] for s in before["items"]} == {
        s["id"] for s in items if s["first_seen"] <= earliest_end
    }
    assert get(demo, "/api/stories", since="2030-01-01T00:00:00Z")["total"] == 0


def test_status_filter(demo: TestClient) -> None:
    assert get(demo, "/api/stories", status="merged")["total"] == 0
    both = get(demo, "/api/stories", status=["active", "dissolved"])
    assert {s["status"] for s in both["items"]} == {"active"}


def test_one_story(demo: TestClient, demo_engine: Engine) -> None:
    story_id = ids(get(demo, "/api/stories"))[0]
    story = get(demo, f"/api/stories/{story_id}")
    with session_scope(demo_engine) as session:
        row = session.get(Story, story_id)
        assert row is not None
        hours = session.scalars(select(StoryHour).where(StoryHour.story_id == story_id)).all()
        events = session.scalars(select(StoryEvent).where(StoryEvent.story_id == story_id)).all()
        title, count, sources = row.title, row.article_count, row.source_count
    assert story["title"] == title
    assert story["merged_into_id"] is None
    assert (story["articles"], story["outlets"]) == (count, sources)
    page = story["article_page"]
    assert (page["total"], page["limit"], page["offset"]) == (count, 50, 0)
    assert len(page["items"]) == count
    published = [a["published_at"] for a in page["items"]]
    assert published == sorted(published, reverse=True)
    assert set(page["items"][0]) == {
        "id",
        "title",
        "url",
        "outlet",
        "published_at",
        "duplicate_of",
        "text",
        "text_source",
    }
    outlets = story["sources"]
    assert len(outlets) == sources
    assert sum(o["articles"] for o in outlets) == count
    # The outlets that reported the story's event in the order they did, then those with
    # only background from before it (no first report).
    reports = [o["first_report_at"] for o in outlets]
    reported = [at for at in reports if at is not None]
    assert reports == reported + [None] * (len(reports) - len(reported))
    assert reported == sorted(reported)
    assert [o["arrival_rank"] for o in outlets][: len(reported)] == sorted(
        o["arrival_rank"] for o in outlets if o["arrival_rank"] is not None
    )
    assert min(o["first_article_at"] for o in outlets) == min(published)
    timeline = story["timeline"]
    assert [h["hour"] for h in timeline] == sorted(h["hour"] for h in timeline)
    assert sum(h["articles"] for h in timeline) == sum(h.article_count for h in hours)
    assert story["history"][0]["kind"] == "created"
    assert len(story["history"]) == len(events)


def test_the_cli_prints_what_the_api_serves(demo: TestClient, demo_url: str) -> None:
    """One schema: `storyline stories --format json` is the items of GET /api/stories, with
    the same keys, values and order, so the two cannot drift apart."""
    result = CliRunner().invoke(cli, ["stories", "--format", "json", "--db", demo_url])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    served = get(demo, "/api/stories", limit=200)["items"]
    assert printed == served
    assert [list(story) for story in printed] == [list(story) for story in served]
    limited = CliRunner().invoke(
        cli, ["stories", "--format", "json", "--limit", "2", "--db", demo_url]
    )
    assert json.loads(limited.stdout) == served[:2]


def test_unknown_story_is_404(demo: TestClient) -> None:
    response = demo.get("/api/stories/987654")
    assert response.status_code == 404
    assert response.json() == {"detail": "story 987654 not found"}


@pytest.mark.parametrize(
    "story_id",
    ["0", "-1", str(2**31), str(2**63), str(2**64 + 1), "9" * 40],
    ids=["zero", "negative", "past-int32", "past-int64", "past-uint64", "40-digits"],
)
def test_an_id_no_row_can_have_is_404(demo: TestClient, story_id: str) -> None:
    # Beyond 32 bits PostgreSQL's INTEGER overflowed (500), beyond 64 bits SQLite's (500).
    response = demo.get(f"/api/stories/{story_id}")
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": f"story {story_id} not found"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"offset": 2**31}, "offset"),
        ({"offset": 2**64}, "offset"),
        ({"since": "9999-12-31T23:59:59-12:00"}, "since"),
        ({"until": "0001-01-01T00:00:00+12:00"}, "until"),
        ({"since": "9999-12-31T23:59:59"}, "since"),
        ({"q": "riot\x00s"}, "q"),
        ({"outlet": "\x00"}, "outlet"),
    ],
    ids=[
        "offset-past-int32",
        "offset-past-int64",
        "since-overflows-to-utc",
        "until-underflows-to-utc",
        "since-last-day",
        "nul-in-q",
        "nul-in-outlet",
    ],
)
def test_values_no_database_can_hold_are_422(
    demo: TestClient, params: dict[str, Any], named: str
) -> None:
    # Before: OverflowError (500), NUL answered 503 on PostgreSQL and every story on SQLite.
    assert_invalid(demo.get("/api/stories", params=params), named)


def test_times_just_inside_the_calendar_are_fine(demo: TestClient) -> None:
    page = get(demo, "/api/stories", since="0001-01-02T00:00:00Z", until="9999-12-30T00:00:00Z")
    assert page["total"] == get(demo, "/api/stories")["total"]


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/api/stories", {"limit": 0}, "limit"),
        ("/api/stories", {"limit": 201}, "limit"),
        ("/api/stories", {"offset": -1}, "offset"),
        ("/api/stories", {"status": "trending"}, "status"),
        ("/api/stories", {"order": "random"}, "order"),
        ("/api/stories", {"since": "yesterday"}, "since"),
        ("/api/stories", {"until": "2015-13-45"}, "until"),
        ("/api/stories/abc", {}, "story_id"),
    ],
    ids=["limit-0", "limit-201", "offset", "status", "order", "since", "until", "id"],
)
def test_bad_parameters_are_422_with_a_message(
    demo: TestClient, path: str, params: dict[str, Any], named: str
) -> None:
    response = demo.get(path, params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["detail"][0]["loc"][1] == named
    assert body["message"].startswith("invalid request: ")
    assert repr(named) in body["message"]


def test_openapi_lists_the_paths(demo: TestClient) -> None:
    schema = get(demo, "/openapi.json")
    assert {
        "/api/health",
        "/api/stories",
        "/api/stories/{story_id}",
        "/api/stories/{story_id}/related",
        "/api/trending",
        "/api/entities/{entity_id}",
    } <= set(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/api/stories"]["get"]["parameters"]}
    assert parameters == {
        "status",
        "since",
        "until",
        "outlet",
        "q",
        "entity",
        "limit",
        "offset",
        "order",
    }


def test_openapi_lists_every_story_status(demo: TestClient) -> None:
    """``api.StatusParam`` spells ``StoryStatus`` out for the schema: the two must agree."""
    parameters = get(demo, "/openapi.json")["paths"]["/api/stories"]["get"]["parameters"]
    (status,) = [p["schema"] for p in parameters if p["name"] == "status"]
    assert status["anyOf"][0]["items"] == {"enum": list(StoryStatus), "type": "string"}


def test_index_page(demo: TestClient) -> None:
    response = demo.get("/")
    assert response.status_code == 200
    assert "Storyline" in response.text


# Exact rows: the recent-articles count, its clock, ranking ties and the filters' edges.


def member(engine: Engine, story_id: int, feed_id: int, title: str, at: datetime) -> None:
    article = add_article(engine, feed_id, title, at, np.ones(384, dtype=np.float32))
    with session_scope(engine) as session:
        session.add(StoryArticle(article_id=article, story_id=story_id, since=at))


def test_exact_rows(engine: Engine, db_url: str) -> None:
    feeds = add_feeds(engine, ["Alpha", "Beta"])
    clock = T0 + timedelta(days=3)
    add_cluster_run(engine, clock)
    big = add_story(engine, "Big but old", article_count=9, source_count=2, keywords=["Molenbeek"])
    hot = add_story(engine, "Hot 100%_news", article_count=2, source_count=1, last_seen=clock)
    gone = add_story(engine, "Merged away", status="merged", merged_into_id=hot)
    add_story(engine, "Dormant", status="dormant", first_seen=clock, last_seen=clock)
    member(engine, big, feeds["Alpha"], "old", clock - timedelta(hours=30))
    member(engine, hot, feeds["Beta"], "new one", clock - timedelta(hours=1))
    member(engine, hot, feeds["Beta"], "new two", clock)
    member(engine, hot, feeds["Beta"], "after the clock", clock + timedelta(hours=1))
    with TestClient(create_app(Settings.load(database_url=db_url))) as client:
        page = get(client, "/api/stories")
        assert [s["title"] for s in page["items"]] == ["Hot 100%_news", "Big but old", "Dormant"]
        assert [s["articles_last_24h"] for s in page["items"]] == [2, 0, 0]
        assert ids(get(client, "/api/stories", order="size"))[0] == big
        assert ids(get(client, "/api/stories", q="100%_")) == [hot]
        assert get(client, "/api/stories", q="0%x")["total"] == 0
        assert ids(get(client, "/api/stories", q="MOLEN")) == [big]
        assert ids(get(client, "/api/stories", outlet="Alpha")) == [big]
        assert ids(get(client, "/api/stories", status="merged")) == [gone]
        assert get(client, f"/api/stories/{gone}")["merged_into_id"] == hot
        recent = get(client, "/api/stories", since=clock.isoformat(), status=["active", "dormant"])
        assert [s["title"] for s in recent["items"]] == ["Hot 100%_news", "Dormant"]
        assert get(client, "/api/health")["stories"] == 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_storyline_serve_over_http(demo_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--db", demo_url]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(f"{base}/api/health", timeout=2)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "storyline serve exited early"
                    assert time.monotonic() < deadline, "storyline serve did not start in 30 s"
                    time.sleep(0.2)
            page = httpx.get(f"{base}/", timeout=5)
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
    assert health.status_code == 200
    assert health.json()["stories"] == 5
    assert page.status_code == 200
    assert "Storyline" in page.text
    # Uvicorn shuts down cleanly, then re-raises the signal it was stopped by.
    assert process.returncode in (0, -signal.SIGTERM), stderr.decode()
    assert f"on {base}/" in stderr.decode()


def test_serve_without_a_schema_fails_in_one_sentence(tmp_path: Any) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert result.exit_code == 1
    assert "storyline init" in result.output


@pytest.mark.parametrize(
    ("title", "keywords", "query"),
    [
        ("ÉMEUTES APRÈS LE MATCH", [], "émeutes après"),
        ("émeutes après le match", [], "ÉMEUTES APRÈS"),
        ("Ο ΣΕΙΣΜΌΣ ΣΤΗΝ ΚΡΉΤΗ", [], "σεισμός"),  # noqa: RUF001 (Greek on purpose)
        ("ПОЖАР В МОСКВЕ", [], "пожар"),  # noqa: RUF001 (Cyrillic on purpose)
        ("Quiet day", ["İSTANBUL", "ÇANAKKALE"], "çanakkale"),
        ("Quiet day", ["Ÿpres"], "ÿpres"),
    ],
    ids=["french-upper", "french-lower", "greek", "cyrillic", "keyword-turkish", "keyword-y"],
)
def test_search_ignores_case_in_all_of_unicode(
    engine: Engine, db_url: str, title: str, keywords: list[str], query: str
) -> None:
    wanted = add_story(engine, title, keywords=keywords)
    add_story(engine, "Another story entirely", keywords=["weather"])
    with TestClient(create_app(Settings.load(database_url=db_url))) as client:
        assert ids(get(client, "/api/stories", q=query)) == [wanted]
        assert ids(get(client, "/api/stories", q=query.upper())) == [wanted]


def test_a_poll_that_finds_nothing_changed_is_a_304_without_a_body(
    engine: Engine, db_url: str
) -> None:
    first = add_story(engine, "Quake hits Iquique", keywords=["Iquique"])
    with TestClient(create_app(Settings.load(database_url=db_url))) as client:
        for path in ("/api/stories", f"/api/stories/{first}", "/api/health"):
            fresh = client.get(path)
            tag = fresh.headers["etag"]
            assert fresh.headers["cache-control"] == "no-cache"
            again = client.get(path, headers={"If-None-Match": tag})
            assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
            assert client.get(path, headers={"If-None-Match": f'W/{tag}, "x"'}).status_code == 304
            assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        listed = client.get("/api/stories").headers["etag"]
        filtered = client.get("/api/stories", params={"q": "quake"})
        assert filtered.headers["etag"] == listed  # same answer, same tag
        assert client.get("/api/stories", params={"q": "flood"}).headers["etag"] != listed

        add_story(engine, "Flood in Lima")  # a change: the same poll gets the new answer
        changed = client.get("/api/stories", headers={"If-None-Match": listed})
        assert changed.status_code == 200
        assert changed.json()["total"] == 2
        assert changed.headers["etag"] != listed
        missing = client.get("/api/stories/999999")
        assert missing.status_code == 404
        assert "etag" not in missing.headers


def test_outlets_lists_every_outlet_with_its_counts(demo: TestClient, demo_engine: Engine) -> None:
    items = get(demo, "/api/outlets")["items"]
    with session_scope(demo_engine) as session:
        feeds = Counter(session.scalars(select(Feed.outlet)))
        rows = session.execute(
            select(
                Feed.outlet, Article.id, Article.published_at, StoryArticle.story_id, Story.status
            )
            .join(Article, Article.feed_id == Feed.id)
            .outerjoin(StoryArticle, StoryArticle.article_id == Article.id)
            .outerjoin(Story, Story.id == StoryArticle.story_id)
        ).all()
    articles: dict[str, set[int]] = defaultdict(set)
    stories: dict[str, set[int]] = defaultdict(set)
    last: dict[str, datetime] = {}
    for outlet, article_id, published, story_id, status in rows:
        articles[outlet].add(article_id)
        last[outlet] = max(last.get(outlet, published), published)
        if story_id is not None and status in ("active", "dormant"):
            stories[outlet].add(story_id)
    assert [item["outlet"] for item in items] == sorted(feeds)
    assert len(items) == 6
    for item in items:
        name = item["outlet"]
        assert item["feeds"] == feeds[name]
        assert item["articles"] == len(articles[name]) > 0
        assert item["stories"] == len(stories[name])
        assert datetime.fromisoformat(item["last_article_at"]).replace(tzinfo=None) == last[
            name
        ].replace(tzinfo=None)
    assert sum(item["stories"] > 0 for item in items) >= 5


def test_an_outlet_with_no_article_yet_is_listed_with_zeros(engine: Engine, db_url: str) -> None:
    add_feeds(engine, ["Quiet Gazette"])
    with TestClient(create_app(Settings.load(database_url=db_url))) as client:
        (item,) = get(client, "/api/outlets")["items"]
    assert item == {
        "outlet": "Quiet Gazette",
        "feeds": 1,
        "articles": 0,
        "stories": 0,
        "last_article_at": None,
    }

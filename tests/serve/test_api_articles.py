"""``GET /api/articles`` on exact rows, on both backends: every article, in a story or in
none, with the text read and where it came from; its filters, order and paging; what it
refuses; and its ETag, as every ``/api/*`` route."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from models import Article
from pipeline.db import session_scope
from pipeline.serve.api import create_app
from pipeline.settings import Settings
from tests.factories import (
    PAGE_BODY,
    T0,
    ArticleRows,
    add_article_rows,
    add_feeds,
    add_text_article,
)
from tests.serve.problems import assert_invalid


@pytest.fixture
def rows(engine: Engine) -> ArticleRows:
    return add_article_rows(engine)


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings.load(database_url=db_url))) as test_client:
        yield test_client


def get(client: TestClient, **params: Any) -> Any:
    response = client.get("/api/articles", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


def test_every_article_newest_first_with_the_text_read(
    client: TestClient, rows: ArticleRows
) -> None:
    page = get(client)
    assert (page["total"], page["limit"], page["offset"]) == (5, 50, 0)
    # Newest first; the two published at the same moment, the newer id first.
    assert ids(page) == [rows.page, rows.teaser, rows.loose, rows.tied, rows.old]
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[rows.page] == {
        "id": rows.page,
        "title": "Quake hits Iquique",
        "url": None,
        "outlet": "Alpha",
        "published_at": "2015-11-16T04:00:00Z",
        "duplicate_of": None,
        "text": PAGE_BODY,
        "text_source": "page",
        "story_id": rows.story,
        "extract_state": "ok",
        "extract_reason": None,
    }
    teaser = by_id[rows.teaser]
    assert (teaser["text"], teaser["text_source"]) == ("Aftershocks shook Iquique.", "feed")
    assert (teaser["extract_state"], teaser["extract_reason"]) == (
        "skipped",
        "robots.txt disallows the page",
    )
    loose = by_id[rows.loose]
    assert (loose["story_id"], loose["extract_state"], loose["text_source"]) == (
        None,
        "pending",
        "feed",
    )
    # No page wanted: no state, no reason.
    assert (by_id[rows.tied]["extract_state"], by_id[rows.tied]["extract_reason"]) == (None, None)
    assert by_id[rows.old]["outlet"] == "Délta Post"


def test_pages_follow_one_another(client: TestClient, rows: ArticleRows) -> None:
    everything = ids(get(client))
    pages = [get(client, limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [page["total"] for page in pages] == [5, 5, 5, 5]
    assert [len(page["items"]) for page in pages] == [2, 2, 1, 0]
    assert [item for page in pages for item in ids(page)] == everything
    assert (pages[1]["limit"], pages[1]["offset"]) == (2, 2)


def test_a_story_lists_its_articles(client: TestClient, rows: ArticleRows) -> None:
    page = get(client, story=rows.story)
    assert (ids(page), page["total"]) == ([rows.page, rows.teaser], 2)
    assert {item["story_id"] for item in page["items"]} == {rows.story}
    assert ids(get(client, story=rows.other_story)) == [rows.old]


@pytest.mark.parametrize(
    "story",
    ["987654", "0", "-1", str(2**31), str(2**64 + 1)],
    ids=["unknown", "zero", "negative", "past-int32", "past-uint64"],
)
def test_a_story_no_row_has_lists_no_articles(
    client: TestClient, rows: ArticleRows, story: str
) -> None:
    # As GET /api/stories/{id} answers 404 for an unknown id and for one no row can have
    # alike, the filter finds nothing for both, never asking the database for the latter.
    page = get(client, story=story)
    assert (page["total"], page["items"]) == (0, [])


def test_articles_in_no_story(client: TestClient, rows: ArticleRows) -> None:
    page = get(client, unclustered="true")
    assert ids(page) == [rows.loose, rows.tied]
    assert [item["story_id"] for item in page["items"]] == [None, None]
    assert get(client, unclustered="false")["total"] == 5
    assert ids(get(client, unclustered=1, q="café")) == [rows.tied]


def test_outlet_and_time_range(client: TestClient, rows: ArticleRows) -> None:
    assert ids(get(client, outlet="Délta Post")) == [rows.teaser, rows.old]
    assert get(client, outlet="Nobody's Gazette")["total"] == 0
    two = (T0 + timedelta(hours=2)).isoformat()
    three = (T0 + timedelta(hours=3)).isoformat()
    # Both ends included; a time without a zone is UTC.
    assert ids(get(client, since=two, until=three)) == [rows.teaser, rows.loose, rows.tied]
    assert ids(get(client, until="2015-11-16T00:00:00")) == [rows.old]
    assert ids(get(client, since=two, outlet="Alpha", story=rows.story)) == [rows.page]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("iquique", ["page", "teaser"]),
        ("RESCUERS REACHED", ["page"]),  # in the page's body
        ("100%_sure", []),  # only in the feed's summary, which the page's body replaced
        ("émeutes à lyon", ["tied"]),  # the text, upper case in the feed, accented
        ("CAFÉ OWNERS", ["tied"]),  # the title
        ("cafe", ["tied"]),  # without its accent
        ("0%_", []),  # LIKE's wildcards are plain characters
        ("", ["page", "teaser", "loose", "tied", "old"]),
    ],
    ids=[
        "title-and-text",
        "body",
        "replaced-summary",
        "accents",
        "title",
        "unaccented",
        "like",
        "empty",
    ],
)
def test_search_reads_the_title_and_the_text_in_any_case(
    client: TestClient, rows: ArticleRows, query: str, found: list[str]
) -> None:
    assert ids(get(client, q=query)) == [getattr(rows, name) for name in found]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ΣΕΙΣΜΌΣ", ["quake"]),
        ("σεισμός στην", ["quake"]),
        ("ΚΡΉΤΗ", ["quake", "island"]),
        ("ΚΡΉΤΗΣ", ["island"]),
        ("ΣΤΗΝ", ["quake"]),
    ],
    ids=["final-sigma", "final-sigma-inside", "no-sigma", "final-sigma-end", "sigma"],
)
def test_search_folds_the_final_sigma_of_the_text_read(
    engine: Engine, client: TestClient, query: str, found: list[str]
) -> None:
    feed = add_feeds(engine, ["Kathimerini"])["Kathimerini"]
    made = {
        "quake": add_text_article(engine, feed, "Breaking", T0, body="Ο σεισμός στην Κρήτη"),  # noqa: RUF001
        "island": add_text_article(engine, feed, "Island", T0, summary="Η ΠΡΩΤΕΎΟΥΣΑ ΤΗΣ ΚΡΉΤΗΣ"),  # noqa: RUF001
    }
    assert ids(get(client, q=query)) == sorted((made[name] for name in found), reverse=True)


def test_the_total_counts_every_match_on_any_page(client: TestClient, rows: ArticleRows) -> None:
    for params in (
        {"q": "iquique", "limit": 1},
        {"q": "iquique", "limit": 2},
        {"q": "iquique", "limit": 3},
        {"q": "iquique", "limit": 1, "offset": 1},
        {"q": "iquique", "limit": 1, "offset": 2},
        {"q": "iquique", "limit": 5, "offset": 9},
        {"unclustered": "true", "limit": 1, "offset": 1},
    ):
        assert get(client, **params)["total"] == 2, params


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": 10**20}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**31}, "offset"),
        ({"offset": 2**64}, "offset"),
        ({"story": "abc"}, "story"),
        ({"story": "9" * 5000}, "story"),
        ({"unclustered": "maybe"}, "unclustered"),
        ({"story": 1, "unclustered": "true"}, "unclustered"),
        ({"q": "riot\x00s"}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"outlet": "\x00"}, "outlet"),
        ({"since": "yesterday"}, "since"),
        ({"since": "9999-12-31T23:59:59-12:00"}, "since"),
        ({"until": "0001-01-01T00:00:00+12:00"}, "until"),
    ],
    ids=[
        "limit-0",
        "limit-201",
        "limit-absurd",
        "offset-negative",
        "offset-past-int32",
        "offset-past-int64",
        "story-not-a-number",
        "story-5000-digits",
        "unclustered-not-a-flag",
        "story-and-unclustered",
        "nul-in-q",
        "q-too-long",
        "nul-in-outlet",
        "since-not-a-time",
        "since-overflows-to-utc",
        "until-underflows-to-utc",
    ],
)
def test_bad_parameters_are_422_with_a_message(
    client: TestClient, params: dict[str, Any], named: str
) -> None:
    assert_invalid(client.get("/api/articles", params=params), named)


def test_a_poll_that_finds_nothing_changed_is_a_304(
    client: TestClient, engine: Engine, rows: ArticleRows
) -> None:
    fresh = client.get("/api/articles")
    tag = fresh.headers["etag"]
    assert fresh.headers["cache-control"] == "no-cache"
    again = client.get("/api/articles", headers={"If-None-Match": tag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    # The text read changes the answer: a page's body arrives.
    with session_scope(engine) as session:
        row = session.get(Article, rows.loose)
        assert row is not None
        row.body, row.extract_state = "The whole story of the bakery.", "ok"
    changed = client.get("/api/articles", headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    item = next(item for item in changed.json()["items"] if item["id"] == rows.loose)
    assert (item["text"], item["text_source"]) == ("The whole story of the bakery.", "page")
    refused = client.get("/api/articles", params={"limit": 0})
    assert "etag" not in refused.headers


@pytest.mark.parametrize(
    "path", ["/api/stories", "/api/articles", "/api/health", "/api/outlets", "/", "/static/app.js"]
)
def test_head_is_answered_like_get_without_a_body(
    client: TestClient, rows: ArticleRows, path: str
) -> None:
    got = client.get(path)
    head = client.head(path)
    assert (head.status_code, head.content) == (200, b"")
    for header in ("etag", "content-type", "content-length"):
        assert head.headers.get(header) == got.headers.get(header), header
    if "etag" in got.headers:
        # a conditional HEAD is answered as the conditional GET is (304 from the API)
        unchanged = {"If-None-Match": got.headers["etag"]}
        same = client.head(path, headers=unchanged)
        assert (same.status_code, same.content) == (
            client.get(path, headers=unchanged).status_code,
            b"",
        )
        if path.startswith("/api/"):
            assert same.status_code == 304


def test_head_of_a_missing_story_is_its_404(client: TestClient, rows: ArticleRows) -> None:
    head = client.head("/api/stories/999999")
    assert (head.status_code, head.content) == (404, b"")


def test_the_story_page_has_the_text_read_too(client: TestClient, rows: ArticleRows) -> None:
    response = client.get(f"/api/stories/{rows.story}")
    assert response.status_code == 200, response.text
    items = response.json()["article_page"]["items"]
    assert [(item["id"], item["text_source"]) for item in items] == [
        (rows.page, "page"),
        (rows.teaser, "feed"),
    ]
    listed = {item["id"]: item for item in get(client, story=rows.story)["items"]}
    for item in items:
        assert item == {key: listed[item["id"]][key] for key in item}


def test_openapi_lists_the_route_and_its_parameters(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"]["/api/articles"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == [
        "story",
        "unclustered",
        "q",
        "outlet",
        "since",
        "until",
        "limit",
        "offset",
    ]
    item = schema["components"]["schemas"]["ListedArticle"]
    assert item["properties"]["text_source"]["enum"] == ["page", "feed"]

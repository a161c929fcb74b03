"""The newsroom's reading endpoints on exact rows, on both backends: one schema shared by
`storyline stories --format json` and the API, related stories by centroid, lineage,
paged articles, and trending stories (checked against the ``trending_stories`` view)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from models import Story, StoryArticle, StoryEvent, StoryHour
from pipeline.cli import cli
from pipeline.db import session_scope
from pipeline.serve.api import create_app
from pipeline.settings import Settings
from tests.factories import T0, add_article, add_cluster_run, add_feeds, add_story, direction, mix

CLOCK = T0 + timedelta(days=3)
"""The pipeline's clock: the newest successful cluster run's ``now``, years before the wall
clock, so every "recent" below is measured against it."""


def members(engine: Engine, story_id: int, feed_id: int, times: list[datetime]) -> list[int]:
    """Articles at ``times`` in the story, with the story's counts and hours kept true."""
    made: list[int] = []
    for at in times:
        title = f"{story_id}:{len(made)}:{at.isoformat()}"
        article = add_article(engine, feed_id, title, at, direction(len(made)))
        made.append(article)
        with session_scope(engine) as session:
            session.add(StoryArticle(article_id=article, story_id=story_id, since=at))
    with session_scope(engine) as session:
        for at in times:
            hour = at.replace(minute=0, second=0, microsecond=0)
            row = session.get(StoryHour, (story_id, hour))
            if row is None:
                session.add(
                    StoryHour(story_id=story_id, hour=hour, article_count=1, outlet_count=1)
                )
            else:
                row.article_count += 1
        row_story = session.get(Story, story_id)
        assert row_story is not None
        row_story.article_count += len(times)
    return made


@pytest.fixture
def client(db_url: str, engine: Engine) -> Iterator[TestClient]:
    add_cluster_run(engine, CLOCK)
    with TestClient(create_app(Settings.load(database_url=db_url))) as test_client:
        yield test_client


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def cli_json(db_url: str, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["stories", "--format", "json", "--db", db_url, *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# One schema: the command line prints what the API serves.


def test_cli_json_is_the_api_list(engine: Engine, db_url: str, client: TestClient) -> None:
    feeds = add_feeds(engine, ["Alpha", "Beta"])
    hot = add_story(engine, "Hot", source_count=1, keywords=["Bataclan"], last_seen=CLOCK)
    wide = add_story(engine, "Wide but old", source_count=2, last_seen=CLOCK - timedelta(days=2))
    tie = add_story(
        engine, "Tie on everything", source_count=2, last_seen=CLOCK - timedelta(days=2)
    )
    add_story(engine, "Resting", status="dormant", source_count=5)
    add_story(engine, "Gone", status="merged", merged_into_id=hot)
    members(engine, hot, feeds["Alpha"], [CLOCK - timedelta(hours=2), CLOCK])
    members(engine, wide, feeds["Beta"], [CLOCK - timedelta(hours=40)])
    members(engine, tie, feeds["Beta"], [CLOCK - timedelta(hours=41)])

    served = get(client, "/api/stories", limit=200)["items"]
    printed = cli_json(db_url)
    assert printed == served  # same keys, same values, same order
    assert [list(item) for item in printed] == [list(item) for item in served]
    # the API's ranking: the last 24 hours first, then outlets, then articles, last seen, id
    assert [s["title"] for s in printed] == ["Hot", "Resting", "Wide but old", "Tie on everything"]
    cases: list[tuple[list[str], dict[str, Any]]] = [
        (["--limit", "2"], {"limit": 2}),
        (["--status", "merged"], {"status": "merged"}),
        (["--status", "dormant", "--status", "active"], {"status": ["dormant", "active"]}),
    ]
    for args, params in cases:
        assert cli_json(db_url, *args) == get(client, "/api/stories", **params)["items"], args
    for old in ("article_count", "source_count", "original_count", "published"):
        assert old not in printed[0]


# One story: a page of its articles, every outlet, lineage.


def test_articles_are_paged_with_their_total(engine: Engine, client: TestClient) -> None:
    feeds = add_feeds(engine, ["Alpha", "Beta"])
    big = add_story(engine, "Big")
    times = [T0 + timedelta(minutes=10 * i) for i in range(7)]
    newest_first = list(reversed(members(engine, big, feeds["Alpha"], times[:4])))
    newest_first = list(reversed(members(engine, big, feeds["Beta"], times[4:]))) + newest_first
    whole = get(client, f"/api/stories/{big}")
    assert whole["article_page"] == {
        "total": 7,
        "limit": 50,
        "offset": 0,
        "items": whole["article_page"]["items"],
    }
    assert [a["id"] for a in whole["article_page"]["items"]] == newest_first
    assert whole["articles"] == 7  # the count keeps its name; the list has its own
    pages = [
        get(client, f"/api/stories/{big}", article_limit=3, article_offset=offset)["article_page"]
        for offset in (0, 3, 6, 9)
    ]
    assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
    assert {p["total"] for p in pages} == {7}
    assert [a["id"] for p in pages for a in p["items"]] == newest_first
    # the outlets are all counted whatever the page
    assert get(client, f"/api/stories/{big}", article_limit=1)["sources"] == [
        {"outlet": "Alpha", "articles": 4, "first_article_at": times[0].isoformat()[:-6] + "Z"},
        {"outlet": "Beta", "articles": 3, "first_article_at": times[4].isoformat()[:-6] + "Z"},
    ]


def test_lineage_names_the_other_stories(engine: Engine, client: TestClient) -> None:
    parent = add_story(engine, "Paris attacks")
    child = add_story(engine, "Saint-Denis raid")
    absorbed = add_story(engine, "Bataclan victims", status="merged", merged_into_id=parent)
    with session_scope(engine) as session:
        session.add(StoryEvent(story_id=child, at=T0, kind="split", other_story_id=parent))
        session.add(StoryEvent(story_id=absorbed, at=T0, kind="merged", other_story_id=parent))
    one = get(client, f"/api/stories/{parent}")
    assert one["merged_from"] == [{"id": absorbed, "title": "Bataclan victims"}]
    assert one["split_into"] == [{"id": child, "title": "Saint-Denis raid"}]
    assert one["split_from"] == []
    other = get(client, f"/api/stories/{child}")
    assert other["split_from"] == [{"id": parent, "title": "Paris attacks"}]
    assert (other["split_into"], other["merged_from"]) == ([], [])
    assert get(client, f"/api/stories/{absorbed}")["merged_into_id"] == parent


# Related stories by centroid.


def test_related_stories_nearest_first(engine: Engine, client: TestClient) -> None:
    a, b = direction(1), direction(2)
    target = add_story(engine, "Target", centroid=a)
    close = add_story(engine, "Close", centroid=mix(a, b, 0.9))
    far = add_story(engine, "Far", centroid=mix(a, b, 0.2))
    middle = add_story(engine, "Middle", status="dormant", centroid=mix(a, b, 0.6))
    merged = add_story(engine, "Merged", status="merged", centroid=mix(a, b, 0.95))
    add_story(engine, "No centroid")
    body = get(client, f"/api/stories/{target}/related")
    assert body["story_id"] == target
    assert [s["id"] for s in body["items"]] == [close, middle, far]
    assert [s["similarity"] for s in body["items"]] == pytest.approx([0.9, 0.6, 0.2], abs=1e-3)
    assert set(body["items"][0]) >= {"title", "articles", "outlets", "articles_last_24h"}
    assert [s["id"] for s in get(client, f"/api/stories/{target}/related", limit=1)["items"]] == [
        close
    ]
    wider = get(client, f"/api/stories/{target}/related", status=["merged", "active"])
    assert [s["id"] for s in wider["items"]] == [merged, close, far]
    lonely = add_story(engine, "Alone, no centroid")
    assert get(client, f"/api/stories/{lonely}/related")["items"] == []


def test_related_stories_share_the_dimension_of_the_story(
    engine: Engine, client: TestClient
) -> None:
    """Centroids of another length are another model's: never compared, on either backend."""
    a = direction(1)
    target = add_story(engine, "Target", centroid=a)
    close = add_story(engine, "Close", centroid=mix(a, direction(2), 0.9))
    wide = add_story(engine, "Wide", centroid=direction(3, 768))
    wider = add_story(engine, "Wider", centroid=mix(direction(3, 768), direction(4, 768), 0.5))
    assert [s["id"] for s in get(client, f"/api/stories/{target}/related")["items"]] == [close]
    assert [s["id"] for s in get(client, f"/api/stories/{wide}/related")["items"]] == [wider]


def test_related_scans_many_stories_on_sqlite_in_batches(
    engine: Engine, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.vector_index

    monkeypatch.setattr(pipeline.vector_index, "SCAN_BATCH", 7)
    a, b = direction(1), direction(2)
    target = add_story(engine, "Target", centroid=a)
    cosines = [round(0.05 * i, 2) for i in range(1, 19)]
    made = {add_story(engine, f"at {c}", centroid=mix(a, b, c)): c for c in cosines}
    items = get(client, f"/api/stories/{target}/related", limit=5)["items"]
    wanted = sorted(made, key=lambda i: -made[i])[:5]
    assert [s["id"] for s in items] == wanted


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/api/stories/1/related", {"limit": 0}, "limit"),
        ("/api/stories/1/related", {"limit": 51}, "limit"),
        ("/api/stories/1/related", {"status": "hot"}, "status"),
        ("/api/stories/x/related", {}, "story_id"),
        ("/api/stories/1", {"article_limit": 0}, "article_limit"),
        ("/api/stories/1", {"article_limit": 501}, "article_limit"),
        ("/api/stories/1", {"article_offset": -1}, "article_offset"),
        ("/api/stories/1", {"article_offset": 2**31}, "article_offset"),
        ("/api/trending", {"hours": 0}, "hours"),
        ("/api/trending", {"hours": 49}, "hours"),
        ("/api/trending", {"hours": "six"}, "hours"),
        ("/api/trending", {"limit": 51}, "limit"),
    ],
    ids=[
        "related-limit-0",
        "related-limit-51",
        "related-status",
        "related-id",
        "article-limit-0",
        "article-limit-501",
        "article-offset-negative",
        "article-offset-past-int32",
        "hours-0",
        "hours-49",
        "hours-text",
        "trending-limit-51",
    ],
)
def test_bad_parameters_are_422_with_one_message(
    engine: Engine, client: TestClient, path: str, params: dict[str, Any], named: str
) -> None:
    add_story(engine, "One")
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["detail"][0]["loc"][:2] == ["path" if named == "story_id" else "query", named]
    assert body["message"].startswith("invalid request: ")
    assert repr(named) in body["message"]
    for secret in ("postgres", "sqlite", "127.0.0.1"):
        assert secret not in response.text


@pytest.mark.parametrize("story_id", ["987654", "0", str(2**31), "9" * 40])
@pytest.mark.parametrize("suffix", ["", "/related"])
def test_unknown_stories_are_404(client: TestClient, story_id: str, suffix: str) -> None:
    response = client.get(f"/api/stories/{story_id}{suffix}")
    assert response.status_code == 404, response.text
    assert response.json() == {"detail": f"story {story_id} not found"}


# Trending: the recent hours against the story's own pace before them.


def test_trending_against_the_stories_own_pace(engine: Engine, client: TestClient) -> None:
    feeds = add_feeds(engine, ["Alpha"])
    alpha = feeds["Alpha"]
    surge = add_story(engine, "Surge")  # 3 now, none before: (3+1)/(0+1) = 4
    members(engine, surge, alpha, [CLOCK - timedelta(hours=h) for h in (0, 1, 2)])
    steady = add_story(engine, "Steady")  # 2 now, 16 in the 48 h before: (2+1)/(16/8+1) = 1
    members(
        engine,
        steady,
        alpha,
        [CLOCK - timedelta(hours=h) for h in (1, 3)]
        + [CLOCK - timedelta(hours=7 + 3 * i) for i in range(16)],
    )
    quiet = add_story(engine, "Quiet")  # nothing in the last 6 h: not trending
    members(engine, quiet, alpha, [CLOCK - timedelta(hours=8)])
    old = add_story(engine, "Too old to count")  # one now; the earlier one is 60 h back: 2/1
    members(engine, old, alpha, [CLOCK - timedelta(hours=5), CLOCK - timedelta(hours=60)])
    resting = add_story(engine, "Resting", status="dormant")
    members(engine, resting, alpha, [CLOCK - timedelta(hours=1)])
    future = add_story(engine, "After the clock")
    members(engine, future, alpha, [CLOCK + timedelta(hours=2)])

    body = get(client, "/api/trending")
    assert (body["at"], body["hours"]) == (CLOCK.isoformat()[:-6] + "Z", 6)
    rows = [
        (s["rank"], s["id"], s["recent_articles"], s["earlier_articles"], s["growth"])
        for s in body["items"]
    ]
    assert rows == [(1, surge, 3, 0, 4.0), (2, old, 1, 0, 2.0), (3, steady, 2, 16, 1.0)]
    assert body["items"][2]["earlier_rate"] == 2.0
    assert body["items"][0]["title"] == "Surge"
    assert [s["id"] for s in get(client, "/api/trending", limit=1)["items"]] == [surge]
    # over 2 hours: steady has 1 recent and 16 in the 48 h before (at 3 h, then 7 to 49 h
    # back; 52 h is out), 16/24 per 2 h
    two = {s["id"]: s for s in get(client, "/api/trending", hours=2)["items"]}
    assert set(two) == {surge, steady}
    assert (two[steady]["recent_articles"], two[steady]["earlier_articles"]) == (1, 16)
    assert two[steady]["growth"] == round(2 / (16 / 24 + 1), 2)


TRENDING_COLUMNS = (
    "rank",
    "id",
    "recent_articles",
    "earlier_articles",
    "growth",
    "articles",
    "outlets",
)
"""The API's names for the view's rank, story_id, articles_last_6h, articles_previous_48h,
growth, articles and outlets."""


def cents(growth: float | Decimal) -> int:
    """A growth rounded to two decimals, as a whole number of hundredths; it must be one."""
    hundredths = round(float(growth) * 100)
    assert abs(float(growth) * 100 - hundredths) < 1e-6, growth
    return hundredths


def test_trending_agrees_with_the_view(engine: Engine, client: TestClient) -> None:
    alpha = add_feeds(engine, ["Alpha"])["Alpha"]
    rng = np.random.default_rng(7)
    for index in range(25):
        made = add_story(engine, f"story {index}", status="dormant" if index % 7 == 0 else "active")
        hours = rng.integers(0, 60, size=int(rng.integers(1, 12)))
        members(engine, made, alpha, [CLOCK - timedelta(hours=int(h)) for h in hours])
    served = get(client, "/api/trending", limit=50)["items"]
    with engine.connect() as connection:
        view = connection.execute(
            text(
                "SELECT rank, story_id, articles_last_6h, articles_previous_48h, growth, "
                "articles, outlets FROM trending_stories ORDER BY rank"
            )
        ).all()
    assert len(view) > 5
    # The API rounds growth to two decimals, as the view does (a REAL on SQLite, a numeric
    # on PostgreSQL): compared in whole hundredths, exactly, whatever the binary form.
    assert [
        tuple(cents(s[key]) if key == "growth" else s[key] for key in TRENDING_COLUMNS)
        for s in served
    ] == [
        tuple(
            cents(value) if key == "growth" else value
            for key, value in zip(TRENDING_COLUMNS, r, strict=True)
        )
        for r in view
    ]


# Polling: the new answers carry ETags too.


def test_new_endpoints_answer_a_poll_with_304(engine: Engine, client: TestClient) -> None:
    a, b = direction(1), direction(2)
    one = add_story(engine, "One", centroid=a)
    add_story(engine, "Two", centroid=mix(a, b, 0.5))
    members(engine, one, add_feeds(engine, ["Alpha"])["Alpha"], [CLOCK])
    for path in (f"/api/stories/{one}/related", "/api/trending", f"/api/stories/{one}"):
        fresh = client.get(path)
        tag = fresh.headers["etag"]
        assert fresh.headers["cache-control"] == "no-cache"
        again = client.get(path, headers={"If-None-Match": tag})
        assert (again.status_code, again.content) == (304, b""), path
    missing = client.get("/api/stories/999999/related")
    assert missing.status_code == 404
    assert "etag" not in missing.headers

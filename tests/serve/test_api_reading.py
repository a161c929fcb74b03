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
    z = [at.isoformat()[:-6] + "Z" for at in times]
    assert get(client, f"/api/stories/{big}", article_limit=1)["sources"] == [
        {
            "outlet": "Alpha",
            "articles": 4,
            "first_article_at": z[0],
            "first_report_at": z[0],
            "arrival_rank": 1,
        },
        {
            "outlet": "Beta",
            "articles": 3,
            "first_article_at": z[4],
            "first_report_at": z[4],
            "arrival_rank": 2,
        },
    ]


def test_broke_it_is_the_first_report_of_the_event_not_older_background(
    engine: Engine, client: TestClient
) -> None:
    """An outlet's profile of the suspect, two days before the raid, joined the story: the
    raid's first report, the next day's burst that two outlets report, broke it."""
    feeds = add_feeds(engine, ["Profile", "Raid first", "Raid second"])
    story = add_story(engine, "Saint-Denis raid")
    raid = T0 + timedelta(days=2)
    members(engine, story, feeds["Profile"], [T0, raid + timedelta(hours=5)])
    members(engine, story, feeds["Raid first"], [raid])
    members(engine, story, feeds["Raid second"], [raid + timedelta(hours=1)])
    sources = get(client, f"/api/stories/{story}")["sources"]
    assert [(s["outlet"], s["arrival_rank"]) for s in sources] == [
        ("Raid first", 1),
        ("Raid second", 2),
        ("Profile", 3),
    ]
    assert sources[2]["first_article_at"] == T0.isoformat()[:-6] + "Z"
    assert sources[2]["first_report_at"] == (raid + timedelta(hours=5)).isoformat()[:-6] + "Z"
    with engine.connect() as connection:
        view = connection.execute(
            text(
                "SELECT outlet, arrival_rank FROM story_sources WHERE story_id = :story "
                "ORDER BY arrival_rank"
            ),
            {"story": story},
        ).all()
    assert [tuple(row) for row in view] == [(s["outlet"], s["arrival_rank"]) for s in sources]


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
    # The parent's history shows the split as its own event, "split into" the child.
    assert [(e["kind"], e["relation"], e["other_story_id"]) for e in one["history"]] == [
        ("split", "split into", child)
    ]
    other = get(client, f"/api/stories/{child}")
    assert other["split_from"] == [{"id": parent, "title": "Paris attacks"}]
    assert [(e["kind"], e["relation"], e["other_story_id"]) for e in other["history"]] == [
        ("split", "split from", parent)
    ]
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
    body = get(client, f"/api/stories/{target}/related", min_similarity=0)
    assert body["story_id"] == target
    assert [s["id"] for s in body["items"]] == [close, middle, far]
    assert [s["similarity"] for s in body["items"]] == pytest.approx([0.9, 0.6, 0.2], abs=1e-3)
    # By default only stories at or above the floor (0.3) are related: "Far" is not.
    assert [s["id"] for s in get(client, f"/api/stories/{target}/related")["items"]] == [
        close,
        middle,
    ]
    assert [
        s["id"] for s in get(client, f"/api/stories/{target}/related", min_similarity=0.7)["items"]
    ] == [close]
    assert set(body["items"][0]) >= {"title", "articles", "outlets", "articles_last_24h"}
    assert [s["id"] for s in get(client, f"/api/stories/{target}/related", limit=1)["items"]] == [
        close
    ]
    wider = get(
        client, f"/api/stories/{target}/related", status=["merged", "active"], min_similarity=0
    )
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
    items = get(client, f"/api/stories/{target}/related", limit=5, min_similarity=0)["items"]
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
        ("/api/trending", {"min_articles": 0}, "min_articles"),
        ("/api/trending", {"min_articles": 101}, "min_articles"),
        ("/api/stories/1/related", {"min_similarity": 1.5}, "min_similarity"),
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
        "min-articles-0",
        "min-articles-101",
        "min-similarity-1.5",
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
    # 3 now, none before: (3+1)/(0+1) = 4; first seen 2 hours ago, so new
    surge = add_story(engine, "Surge", first_seen=CLOCK - timedelta(hours=2))
    members(engine, surge, alpha, [CLOCK - timedelta(hours=h) for h in (0, 1, 2)])
    # 4 now, 8 in the 48 h before (1 per 6 h): (4+1)/(8/8+1) = 2.5; seen for days: developing
    gaining = add_story(engine, "Gaining", first_seen=CLOCK - timedelta(days=2))
    members(
        engine,
        gaining,
        alpha,
        [CLOCK - timedelta(hours=h) for h in (1, 2, 3, 4)]
        + [CLOCK - timedelta(hours=8 + 6 * i) for i in range(8)],
    )
    steady = add_story(engine, "Steady")  # 2 now, 16 in the 48 h before: (2+1)/(16/8+1) = 1
    members(
        engine,
        steady,
        alpha,
        [CLOCK - timedelta(hours=h) for h in (1, 3)]
        + [CLOCK - timedelta(hours=7 + 3 * i) for i in range(16)],
    )
    shrinking = add_story(engine, "Shrinking")  # 2 now, 24 before: 3/4, fewer than expected
    members(
        engine,
        shrinking,
        alpha,
        [CLOCK - timedelta(hours=h) for h in (1, 3)]
        + [CLOCK - timedelta(hours=7 + 2 * i) for i in range(24)],
    )
    quiet = add_story(engine, "Quiet")  # nothing in the last 6 h: not trending
    members(engine, quiet, alpha, [CLOCK - timedelta(hours=8)])
    lone = add_story(engine, "One article")  # one now; the earlier one is 60 h back: 2/1
    members(engine, lone, alpha, [CLOCK - timedelta(hours=5), CLOCK - timedelta(hours=60)])
    resting = add_story(engine, "Resting", status="dormant")
    members(engine, resting, alpha, [CLOCK - timedelta(hours=1), CLOCK - timedelta(hours=2)])
    future = add_story(engine, "After the clock")
    members(engine, future, alpha, [CLOCK + timedelta(hours=2), CLOCK + timedelta(hours=3)])

    body = get(client, "/api/trending")
    assert (body["at"], body["hours"], body["min_articles"]) == (CLOCK.isoformat()[:-6] + "Z", 6, 2)
    rows = [
        (s["rank"], s["id"], s["recent_articles"], s["earlier_articles"], s["growth"], s["mark"])
        for s in body["items"]
    ]
    assert rows == [(1, surge, 3, 0, 4.0, "new"), (2, gaining, 4, 8, 2.5, "developing")]
    assert body["items"][1]["earlier_rate"] == 1.0
    assert body["items"][0]["title"] == "Surge"
    assert [s["id"] for s in get(client, "/api/trending", limit=1)["items"]] == [surge]
    # One new article is enough when asked: the lone article's story comes in, at 2.
    one = get(client, "/api/trending", min_articles=1)["items"]
    assert [(s["id"], s["growth"]) for s in one] == [(surge, 4.0), (gaining, 2.5), (lone, 2.0)]
    assert [s["id"] for s in get(client, "/api/trending", min_articles=4)["items"]] == [gaining]
    # Over 24 hours the steady story grows: 8 articles in them (at 1, 3, then 7 to 22 h
    # back) against 10 in the 48 h before (25 to 52 h back), 5 per 24 h; the gaining one,
    # first seen 2 days back, is still developing, and the surge new.
    day = {s["id"]: s for s in get(client, "/api/trending", hours=24)["items"]}
    assert (day[steady]["recent_articles"], day[steady]["earlier_articles"]) == (8, 10)
    assert day[steady]["growth"] == 1.5
    assert (day[surge]["mark"], day[gaining]["mark"]) == ("new", "developing")


TRENDING_COLUMNS = (
    "rank",
    "id",
    "recent_articles",
    "earlier_articles",
    "growth",
    "articles",
    "outlets",
    "mark",
)
"""The API's names for the view's rank, story_id, articles_last_6h, articles_previous_48h,
growth, articles, outlets and mark."""


def cents(growth: float | Decimal) -> int:
    """A growth rounded to two decimals, as a whole number of hundredths; it must be one."""
    hundredths = round(float(growth) * 100)
    assert abs(float(growth) * 100 - hundredths) < 1e-6, growth
    return hundredths


def test_trending_agrees_with_the_view(engine: Engine, client: TestClient) -> None:
    alpha = add_feeds(engine, ["Alpha"])["Alpha"]
    rng = np.random.default_rng(7)
    for index in range(60):
        # every fifth a young story, all its articles in the last 6 hours
        hours = rng.integers(0, 6 if index % 5 == 0 else 60, size=int(rng.integers(1, 12)))
        times = [CLOCK - timedelta(hours=int(h)) for h in hours]
        made = add_story(
            engine,
            f"story {index}",
            status="dormant" if index % 7 == 0 else "active",
            first_seen=min(times),
        )
        members(engine, made, alpha, times)
    served = get(client, "/api/trending", limit=50)["items"]
    with engine.connect() as connection:
        view = connection.execute(
            text(
                "SELECT rank, story_id, articles_last_6h, articles_previous_48h, growth, "
                "articles, outlets, mark FROM trending_stories ORDER BY rank"
            )
        ).all()
    assert len(view) > 5
    assert {row[-1] for row in view} == {"new", "developing"}
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

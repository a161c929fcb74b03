"""The dashboard in a real headless browser: Debian's Chromium driven by Playwright, against
`storyline serve` on a PostgreSQL database filled by `storyline demo`.

Screenshots of each page are kept under ``test-artifacts/screenshots/`` (gitignored).
Needs /usr/bin/chromium (`scripts/install-chromium.sh`); Playwright downloads no browser.
Select these tests with ``-m browser``, leave them out with ``-m "not browser"``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, func, select

from models import Article, ClusterRun, Story, StoryArticle
from pipeline.cli import cli
from pipeline.db import make_engine, session_scope
from tests.conftest import create_pg_database, drop_pg_database

pytestmark = [pytest.mark.postgres, pytest.mark.browser]

CHROMIUM = os.environ.get("STORYLINE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# As root Chromium needs --no-sandbox; without the background-networking flags it keeps
# dialling Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@dataclass(frozen=True)
class Live:
    """The served dashboard: its address and the database behind it."""

    base_url: str
    engine: Engine

    def api(self, path: str) -> Any:
        response = httpx.get(f"{self.base_url}{path}", timeout=10)
        response.raise_for_status()
        return response.json()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_healthy(
    server: subprocess.Popen[bytes], log: Path, url: str, deadline: float
) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            err = log.read_text(errors="replace")
            pytest.fail(f"storyline serve exited with {server.returncode}: {err}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"storyline serve did not answer {url} in time: {log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def live(pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`storyline serve` in a subprocess, on a database after one `storyline demo`."""
    url = create_pg_database(pg_admin, prefix="storyline_dashboard")
    try:
        result = CliRunner().invoke(cli, ["demo", "--db", url])
        assert result.exit_code == 0, result.output
        port = free_port()
        command = [sys.executable, "-m", "pipeline", "serve", "--host", "127.0.0.1"]
        log = tmp_path_factory.mktemp("serve") / "stderr.log"
        with log.open("wb") as stderr:
            server = subprocess.Popen(
                [*command, "--port", str(port), "--db", url],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        engine = make_engine(url)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(server, log, f"{base}/api/health", time.monotonic() + 60)
            yield Live(base, engine)
        finally:
            server.terminate()
            server.wait(timeout=10)
            engine.dispose()
    finally:
        drop_pg_database(pg_admin, url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: run scripts/install-chromium.sh (as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    """A fresh page polling every second; it fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live.base_url}/?refresh=1")
    yield page
    context.close()
    assert not errors, errors


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def table_titles(page: Page) -> list[str]:
    return page.locator("#stories-body th.title a").all_inner_texts()


def test_the_list_shows_the_demo_stories_ranked(page: Page, live: Live) -> None:
    ranked = live.api("/api/stories")["items"]
    with session_scope(live.engine) as session:
        titles = set(session.scalars(select(Story.title).where(Story.status == "active")))
    expect(page.locator("#stories-body tr")).to_have_count(len(titles))
    assert table_titles(page) == [story["title"] for story in ranked]
    assert set(table_titles(page)) == titles
    for subject in ("Raqqa", "Sinai", "Paris"):
        assert any(subject in title for title in titles), subject
    first = page.locator("#stories-body tr").first
    top = ranked[0]
    expect(first.locator("td.rank")).to_have_text("1")
    expect(first.locator("ul.keywords li")).to_have_text(top["keywords"])
    expect(first.locator("td.num").nth(1)).to_contain_text(str(top["articles"]))
    expect(first.locator("td.num").nth(2)).to_have_text(str(top["outlets"]))
    expect(first.locator("time")).to_have_attribute("datetime", top["last_seen"])
    expect(page.locator("#status")).to_contain_text("updated ")
    screenshot(page, "dashboard-list")


def test_a_click_opens_the_story_with_its_chart_outlets_and_articles(
    page: Page, live: Live
) -> None:
    ranked = live.api("/api/stories")["items"]
    raqqa = next(story for story in ranked if "Raqqa" in story["title"])
    story = live.api(f"/api/stories/{raqqa['id']}")

    page.get_by_role("link", name=raqqa["title"]).click()
    expect(page).to_have_url(re.compile(rf"#/story/{raqqa['id']}$"))
    expect(page.locator("#list-view")).to_be_hidden()
    expect(page.locator("#story-title")).to_have_text(story["title"])

    bars = page.locator("#story-chart svg rect.bar")
    expect(bars).to_have_count(len(story["timeline"]))
    heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(bars.count())]
    assert all(height > 0 for height in heights)
    drawn = [
        (
            bars.nth(i).get_attribute("data-hour"),
            int(bars.nth(i).get_attribute("data-articles") or 0),
        )
        for i in range(bars.count())
    ]
    assert drawn == [(point["hour"], point["articles"]) for point in story["timeline"]]
    assert sum(count for _, count in drawn) == story["articles"]
    expect(page.locator("#story-chart svg .axis.x text").first).to_be_visible()

    outlets = page.locator("#story-outlets li .outlet")
    expect(outlets).to_have_text([outlet["outlet"] for outlet in story["sources"]])
    expect(page.locator("#story-outlets li").first).to_contain_text("broke it")

    links = page.locator("#story-articles li a")
    expect(links).to_have_text([article["title"] for article in story["article_page"]["items"]])
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [article["url"] for article in story["article_page"]["items"]]
    assert links.first.get_attribute("target") == "_blank"
    screenshot(page, "dashboard-story")

    page.go_back()
    expect(page.locator("#list-view")).to_be_visible()
    expect(page.locator("#story-view")).to_be_hidden()


def test_an_unknown_story_says_so(page: Page, live: Live) -> None:
    page.goto(f"{live.base_url}/?refresh=1#/story/999999")
    expect(page.locator("#story-title")).to_have_text("No story 999999")
    expect(page.locator("#story-chart svg")).to_have_count(0)


def test_a_new_story_appears_without_a_reload(page: Page, live: Live) -> None:
    expect(page.locator("#stories-body tr")).not_to_have_count(0)
    page.evaluate("window.__sameDocument = 'yes'")
    before = page.locator("#status time").get_attribute("datetime")
    # Markup in a headline is text, never markup.
    title = "Comet <b>lights up</b> the sky over Lisbon, astronomers say"
    add_story(live.engine, title)

    expect(page.get_by_role("link", name=title)).to_be_visible()
    expect(page.locator("#stories-body b")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") == "yes"  # the page never reloaded
    expect(page.locator("#status time")).not_to_have_attribute("datetime", before or "")
    assert title in table_titles(page)


def add_story(engine: Engine, title: str) -> None:
    """What a cluster run leaves behind, in short: a story of two unclustered articles, and a
    newer successful run, so the API's ``updated_at`` moves."""
    with session_scope(engine) as session:
        latest = session.scalars(
            select(ClusterRun).where(ClusterRun.status == "ok").order_by(ClusterRun.id.desc())
        ).first()
        assert latest is not None
        clustered = select(StoryArticle.article_id)
        articles = list(
            session.scalars(
                select(Article)
                .where(Article.id.not_in(clustered))
                .order_by(Article.published_at.desc())
                .limit(2)
            )
        )
        assert len(articles) == 2
        wall = datetime.now(UTC)
        run = ClusterRun(
            started_at=wall,
            finished_at=wall,
            now=latest.now,
            window_start=latest.window_start,
            model=latest.model,
            status="ok",
            params=latest.params,
            input_hash="dashboard-test",
        )
        session.add(run)
        session.flush()
        published = [article.published_at for article in articles]
        story = Story(
            title=title,
            article_count=2,
            source_count=len({article.feed_id for article in articles}),
            original_count=2,
            first_seen=min(published),
            last_seen=max(published),
            model=latest.model,
            status="active",
            keywords=["comet", "lisbon"],
            created_at=wall,
            updated_at=wall,
            created_run_id=run.id,
            updated_run_id=run.id,
        )
        session.add(story)
        session.flush()
        session.add_all(
            StoryArticle(article_id=article.id, story_id=story.id, since=wall, run_id=run.id)
            for article in articles
        )
        assert session.scalar(select(func.count()).select_from(Story)) == 6


def test_the_api_docs_render_with_no_network(browser: Browser, live: Live) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    outside: list[str] = []

    def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(live.base_url):
            route.continue_()
        else:  # what a closed newsroom network does to a CDN
            outside.append(url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.goto(f"{live.base_url}/docs")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    screenshot(page, "api-docs")
    paths = set(operations.all_inner_texts())
    context.close()
    assert {"/api/health", "/api/stories", "/api/stories/{story_id}"} <= {
        path.replace("\u200b", "") for path in paths
    }, paths
    assert outside == []

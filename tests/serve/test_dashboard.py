"""The dashboard in a real headless browser: Debian's Chromium driven by Playwright, against
`storyline serve` on a database filled by `storyline demo` (SQLite and PostgreSQL), with a
merged and a split story added so the story page has lineage to show.

Screenshots of each page are kept under ``test-artifacts/screenshots/`` (gitignored), one
per backend (``dashboard-list-sqlite.png``, ``dashboard-list-postgresql.png``, ...).
Needs /usr/bin/chromium (`scripts/install-chromium.sh`); Playwright downloads no browser.
Select these tests with ``-m browser``, leave them out with ``-m "not browser"``.
"""

from __future__ import annotations

import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine, select

from models import Article, ClusterRun, Story, StoryArticle, StoryEvent
from pipeline.db import make_engine, session_scope
from tests.conftest import demo_database

pytestmark = [pytest.mark.browser]

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
# Stories a page in the paging tests: the demo's six listed stories make three pages.
PAGE = 2
MERGED_TITLE = "First reports: French jets strike Raqqa overnight"
TIMES = "\u00d7"  # the growth factor's sign
DASH = "\u2013"  # between the first and last article of a page
SPLIT_TITLE = "Molenbeek raids: Belgian police detain two after Paris attacks"


@dataclass(frozen=True)
class Lineage:
    """The stories added to the demo's: one merged into the Raqqa story, one split from the
    Brussels manhunt."""

    raqqa: int
    merged: int
    brussels: int
    split: int


@dataclass(frozen=True)
class Read:
    """What the text stage leaves: the Raqqa story's newest article read from its page,
    and an article in no story whose page was skipped."""

    page: int
    skipped: int


@dataclass(frozen=True)
class Live:
    """The served dashboard: its address, the database behind it and its backend's name."""

    base_url: str
    engine: Engine
    backend: str
    lineage: Lineage
    read: Read

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.base_url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def url(self, hash_: str = "#/", limit: int | None = None) -> str:
        """The page polling every second; ``limit`` stories a page instead of 50."""
        per_page = "" if limit is None else f"&limit={limit}"
        return f"{self.base_url}/?refresh=1{per_page}{hash_}"


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


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def demo_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database after one `storyline demo`, with lineage added (``add_lineage``)."""
    with demo_database(request, tmp_path_factory, "dashboard") as url:
        yield url


@pytest.fixture(scope="module")
def live(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """`storyline serve` in a subprocess, on the demo's database."""
    engine = make_engine(demo_url)
    try:
        lineage = add_lineage(engine)
        read = add_page_text(engine, lineage.raqqa)
        port = free_port()
        command = [sys.executable, "-m", "pipeline", "serve", "--host", "127.0.0.1"]
        log = tmp_path_factory.mktemp("serve") / "stderr.log"
        with log.open("wb") as stderr:
            server = subprocess.Popen(
                [*command, "--port", str(port), "--db", demo_url],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(server, log, f"{base}/api/health", time.monotonic() + 60)
            yield Live(base, engine, demo_url.split(":", 1)[0].split("+")[0], lineage, read)
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        engine.dispose()


def add_lineage(engine: Engine) -> Lineage:
    """What the tracker leaves when stories merge and split: a story merged into the Raqqa
    story (``merged_into_id`` and a ``merged`` event), and one split from the Brussels
    manhunt (a ``split`` event naming it), holding the two oldest unclustered articles."""
    with session_scope(engine) as session:
        run = session.scalars(
            select(ClusterRun).where(ClusterRun.status == "ok").order_by(ClusterRun.id.desc())
        ).first()
        assert run is not None
        stories = list(session.scalars(select(Story)))
        raqqa = next(story for story in stories if "Raqqa" in story.title)
        brussels = next(story for story in stories if "Brussels" in story.title)
        clustered = select(StoryArticle.article_id)
        articles = list(
            session.scalars(
                select(Article)
                .where(Article.id.not_in(clustered))
                .order_by(Article.published_at, Article.id)
                .limit(2)
            )
        )
        assert len(articles) == 2
        published = [article.published_at for article in articles]

        def story(title: str, status: str, count: int, merged_into: int | None = None) -> Story:
            new = Story(
                title=title,
                article_count=count,
                source_count=len({article.feed_id for article in articles}) if count else 0,
                original_count=count,
                first_seen=min(published) if count else raqqa.first_seen,
                last_seen=max(published) if count else raqqa.first_seen,
                model=run.model,
                status=status,
                keywords=title.lower().replace(":", "").split()[:4],
                merged_into_id=merged_into,
                created_at=run.finished_at,
                updated_at=run.finished_at,
                created_run_id=run.id,
                updated_run_id=run.id,
            )
            session.add(new)
            session.flush()
            return new

        merged = story(MERGED_TITLE, "merged", 0, merged_into=raqqa.id)
        split = story(SPLIT_TITLE, "active", 2)
        session.add_all(
            StoryArticle(article_id=article.id, story_id=split.id, since=run.now, run_id=run.id)
            for article in articles
        )
        session.add_all(
            [
                StoryEvent(
                    story_id=merged.id,
                    run_id=run.id,
                    at=run.now,
                    kind="merged",
                    other_story_id=raqqa.id,
                ),
                StoryEvent(
                    story_id=split.id,
                    run_id=run.id,
                    at=run.now,
                    kind="split",
                    other_story_id=brussels.id,
                    article_count=2,
                ),
            ]
        )
        return Lineage(raqqa.id, merged.id, brussels.id, split.id)


BODY = (
    "French jets struck Islamic State targets in Raqqa overnight, the defence ministry said.\n\n"
    "Ten aircraft dropped twenty bombs on a command post, a recruitment centre and a training "
    "camp. The strikes followed the attacks in Paris, which the group claimed. More raids are "
    "planned, officials said, as the carrier Charles de Gaulle sails for the eastern Mediterranean."
)
SKIPPED_REASON = "robots.txt disallows the page"


def add_page_text(engine: Engine, story_id: int) -> Read:
    """A page's body for the story's newest article, and a skipped page for the newest
    article in no story."""
    with session_scope(engine) as session:
        newest = (
            select(Article)
            .join(StoryArticle, StoryArticle.article_id == Article.id)
            .where(StoryArticle.story_id == story_id)
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
        page = session.scalars(newest).first()
        loose = session.scalars(
            select(Article)
            .where(Article.id.not_in(select(StoryArticle.article_id)))
            .order_by(Article.published_at.desc(), Article.id.desc())
        ).first()
        assert page is not None
        assert loose is not None
        page.body, page.extract_state = BODY, "ok"
        loose.extract_state, loose.extract_reason = "skipped", SKIPPED_REASON
        return Read(page.id, loose.id)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: run scripts/install-chromium.sh (as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser: Browser, live: Live, width: int, hash_: str = "#/") -> Iterator[Page]:
    """A fresh page polling every second; it fails the test on any script error."""
    context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live.url(hash_))
    yield page
    context.close()
    assert not errors, errors


@pytest.fixture
def page(browser: Browser, live: Live) -> Iterator[Page]:
    yield from open_page(browser, live, 1280)


@pytest.fixture
def narrow(browser: Browser, live: Live) -> Iterator[Page]:
    """The same at a phone's 400 px."""
    yield from open_page(browser, live, 400)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def table_titles(page: Page) -> list[str]:
    return page.locator("#stories-body th.title a").all_inner_texts()


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def shown(iso: str) -> str:
    """A time as the page prints it, in UTC and saying so: day, month, year, time, zone."""
    at = moment(iso).astimezone(UTC)
    return f"{at.day} {at:%b %Y %H:%M} UTC"


def before_run(clock: str, iso: str) -> str:
    """How long ``iso`` is before the pipeline's clock, in the page's words."""
    diff = (moment(clock) - moment(iso)).total_seconds()
    size = abs(diff)
    if size < 60:
        return "at the latest run"
    if size < 3600:
        amount = f"{math.floor(size / 60 + 0.5)} min"
    elif size < 48 * 3600:
        amount = f"{math.floor(size / 3600 + 0.5)} h"
    elif size < 60 * 86400:
        days = math.floor(size / 86400 + 0.5)
        amount = f"{days} day" if days == 1 else f"{days} days"
    elif size < 730 * 86400:
        months = math.floor(size / (30.4375 * 86400) + 0.5)
        amount = f"{months} month" if months == 1 else f"{months} months"
    else:
        years = math.floor(size / (365.25 * 86400) + 0.5)
        amount = f"{years} year" if years == 1 else f"{years} years"
    return f"{amount} {'before' if diff > 0 else 'after'} the latest run"


def when(clock: str, iso: str) -> str:
    return f"{shown(iso)} ({before_run(clock, iso)})"


def two_decimals(value: float) -> str:
    """As the page prints growth and rates: half up to two decimals, no trailing zeros."""
    rounded = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format(rounded.normalize(), "f")


def clock(live: Live) -> str:
    at: str = live.api("/api/trending", limit=1)["at"]
    return at


def hash_of(page: Page) -> str:
    return str(page.evaluate("window.location.hash"))


# --- the list ------------------------------------------------------------------------------


def test_the_list_shows_the_stories_ranked_with_days_and_the_pipelines_clock(
    page: Page, live: Live
) -> None:
    ranked = live.api("/api/stories")["items"]
    at = clock(live)
    with session_scope(live.engine) as session:
        titles = set(
            session.scalars(select(Story.title).where(Story.status.in_(["active", "dormant"])))
        )
    expect(page.locator("#stories-body tr")).to_have_count(len(titles))
    assert table_titles(page) == [story["title"] for story in ranked]
    assert set(table_titles(page)) == titles
    for subject in ("Raqqa", "Sinai", "Paris"):
        assert any(subject in title for title in titles), subject
    first = page.locator("#stories-body tr").first
    top = ranked[0]
    expect(first.locator("td.rank")).to_have_text("1")
    expect(first.locator("ul.keywords li")).to_have_text(top["keywords"])
    expect(first.locator("td.articles")).to_contain_text(str(top["articles"]))
    expect(first.locator("td.outlets")).to_have_text(str(top["outlets"]))
    expect(first.locator("td.last time")).to_have_attribute("datetime", top["last_seen"])
    # Every "last update" has its day, and counts from the pipeline's clock (the demo's
    # November 2015), not the browser's: the newest story is "at the latest run".
    expect(page.locator("#stories-body td.last")).to_have_text(
        [when(at, story["last_seen"]) for story in ranked]
    )
    newest = max(ranked, key=lambda story: story["last_seen"])
    assert newest["last_seen"] == at
    expect(page.locator(f'#stories-body tr[data-story-id="{newest["id"]}"] td.last')).to_have_text(
        f"{shown(at)} (at the latest run)"
    )
    health = live.api("/api/health")
    updated = page.locator("#status time.updated")
    expect(updated).to_have_attribute("datetime", health["last_run_at"])
    expect(updated).to_have_text(shown(health["last_run_at"]))
    expect(page.locator("#status")).to_contain_text("updated ")
    expect(page.locator("#tab-list")).to_have_attribute("aria-current", "page")
    summary = f"{len(ranked)} stories."
    expect(page.locator("#list-summary")).to_have_text(summary)
    screenshot(page, f"dashboard-list-{live.backend}")


def test_search_status_and_order_are_kept_in_the_url(page: Page, live: Live) -> None:
    expect(page.locator("#stories-body tr")).not_to_have_count(0)
    everything = live.api("/api/stories")["total"]
    page.fill("#f-q", "raqqa")
    page.press("#f-q", "Enter")
    expect(page).to_have_url(re.compile(r"#/\?q=raqqa$"))
    found = live.api("/api/stories", q="raqqa")
    assert 0 < found["total"] < everything
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [story["title"] for story in found["items"]]
    )
    expect(page.locator("#list-summary")).to_have_text(
        f"{found['total']} {'story' if found['total'] == 1 else 'stories'} matching the filters."
    )

    page.select_option("#f-order", "size")
    expect(page).to_have_url(re.compile(r"#/\?q=raqqa&order=size$"))
    # Only the merged stories: one box after another, each a step in the history.
    page.check('input[name="status"][value="merged"]')
    page.uncheck('input[name="status"][value="active"]')
    page.uncheck('input[name="status"][value="dormant"]')
    assert hash_of(page) == "#/?q=raqqa&status=merged&order=size"
    merged = live.api("/api/stories", q="raqqa", status="merged", order="size")
    assert [story["title"] for story in merged["items"]] == [MERGED_TITLE]
    expect(page.locator("#stories-body th.title a")).to_have_text([MERGED_TITLE])
    expect(page.locator("#stories-body .badge")).to_have_text(["merged"])
    screenshot(page, f"dashboard-list-filtered-{live.backend}")

    # A reload restores the view from the URL, form included.
    page.reload()
    expect(page.locator("#stories-body th.title a")).to_have_text([MERGED_TITLE])
    expect(page.locator("#f-q")).to_have_value("raqqa")
    expect(page.locator("#f-order")).to_have_value("size")
    expect(page.locator('input[name="status"][value="merged"]')).to_be_checked()
    expect(page.locator('input[name="status"][value="active"]')).not_to_be_checked()

    # Back: the step before (dormant and merged), then forward again.
    page.go_back()
    assert hash_of(page) == "#/?q=raqqa&status=dormant&status=merged&order=size"
    before = live.api("/api/stories", q="raqqa", status=["dormant", "merged"], order="size")
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [story["title"] for story in before["items"]]
    )
    expect(page.locator('input[name="status"][value="dormant"]')).to_be_checked()
    page.go_forward()
    expect(page.locator("#stories-body th.title a")).to_have_text([MERGED_TITLE])

    page.locator("#f-clear").click()
    expect(page.locator("#stories-body tr")).to_have_count(everything)
    expect(page.locator("#f-q")).to_have_value("")


def test_outlet_and_time_range_filters(page: Page, live: Live) -> None:
    stories = live.api("/api/stories")["items"]
    outlets: dict[str, set[int]] = {}
    for story in stories:
        for source in live.api(f"/api/stories/{story['id']}", article_limit=1)["sources"]:
            outlets.setdefault(source["outlet"], set()).add(story["id"])
    # The outlet in the fewest stories, so the filter visibly leaves some out.
    outlet = min(outlets, key=lambda name: (len(outlets[name]), name))
    assert len(outlets[outlet]) < len(stories)

    # The filter suggests every outlet of the registry (/api/outlets), before any story page.
    names = [item["outlet"] for item in live.api("/api/outlets")["items"]]
    assert outlet in names
    expect(page.locator("#outlet-names option")).to_have_count(len(names))
    values = page.locator("#outlet-names option").evaluate_all("els => els.map(e => e.value)")
    assert values == sorted(names)
    page.fill("#f-outlet", outlet)
    page.press("#f-outlet", "Enter")
    assert hash_of(page) == f"#/?outlet={quote(outlet, safe='').replace('%20', '+')}"
    by_outlet = live.api("/api/stories", outlet=outlet)["items"]
    assert {story["id"] for story in by_outlet} == outlets[outlet]
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [story["title"] for story in by_outlet]
    )

    page.locator("#f-clear").click()
    expect(page).to_have_url(re.compile(r"#/$"))
    expect(page.locator("#f-outlet")).to_have_value("")
    page.fill("#f-since", "2015-11-18")
    expect(page).to_have_url(re.compile(r"#/\?since=2015-11-18$"))
    recent = live.api("/api/stories", since="2015-11-18T00:00:00Z")["items"]
    assert 0 < len(recent) < len(stories)
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [story["title"] for story in recent]
    )
    page.fill("#f-until", "2015-11-18")
    page.fill("#f-since", "")
    expect(page).to_have_url(re.compile(r"#/\?until=2015-11-18$"))
    early = live.api("/api/stories", until="2015-11-16T23:59:59.999Z")["items"]
    page.fill("#f-until", "2015-11-16")
    expect(page).to_have_url(re.compile(r"#/\?until=2015-11-16$"))
    assert 0 < len(early) < len(stories)
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [story["title"] for story in early]
    )

    # A shared link opens the same view.
    page.goto(live.url("#/?q=zzz-no-such-story"))
    expect(page.locator("#stories-body td.empty")).to_have_text("No story matches these filters.")
    expect(page.locator("#list-summary")).to_have_text("0 stories matching the filters.")


def list_page(live: Live, offset: int, **filters: Any) -> tuple[list[str], str]:
    """The titles of one page of the list (``PAGE`` a page) and its count, as the API has it."""
    answer = live.api("/api/stories", limit=PAGE, offset=offset, **filters)
    titles = [story["title"] for story in answer["items"]]
    last = offset + len(titles)
    matching = " matching the filters" if filters.keys() - {"order"} else ""
    return titles, f"{offset + 1}{DASH}{last} of {answer['total']} stories{matching}."


def test_the_list_is_paged_and_the_page_kept_in_the_url(page: Page, live: Live) -> None:
    total = live.api("/api/stories")["total"]
    last = 2 * PAGE
    assert (total - 1) // PAGE * PAGE == last, "the demo's list makes three pages"
    pager = page.locator("#stories-pager")
    summary = page.locator("#list-summary")
    ranks = page.locator("#stories-body td.rank")
    page.goto(live.url("#/", limit=PAGE))
    titles, count = list_page(live, 0)
    expect(summary).to_have_text(count)
    expect(page.locator("#stories-body th.title a")).to_have_text(titles)
    expect(ranks).to_have_text(["1", "2"])
    expect(pager.locator("a")).to_have_text(["Next \u2192"])

    # Next: the second page, in the URL, ranked on from the first; the count is focused
    # (so scrolled to), not the foot of the page the reader just left.
    pager.locator("a.next").click()
    expect(page).to_have_url(re.compile(rf"#/\?offset={PAGE}$"))
    titles, count = list_page(live, PAGE)
    expect(summary).to_have_text(count)
    expect(page.locator("#stories-body th.title a")).to_have_text(titles)
    expect(ranks).to_have_text([str(PAGE + 1), str(PAGE + 2)])
    expect(pager.locator("a")).to_have_text(["\u2190 Previous", "Next \u2192"])
    assert pager.locator("a.prev").get_attribute("href") == "#/"
    expect(summary).to_be_focused()
    screenshot(page, f"dashboard-list-page2-{live.backend}")

    # A story opened from page 2 leads back to page 2, and so does the browser's back.
    page.locator("#stories-body th.title a").first.click()
    expect(page.locator("#story-title")).to_have_text(titles[0])
    assert page.locator("#story-back").get_attribute("href") == f"#/?offset={PAGE}"
    page.go_back()
    expect(summary).to_have_text(count)
    expect(page.locator("#stories-body th.title a")).to_have_text(titles)

    # The last page has no "next"; back and forward walk the pages again.
    pager.locator("a.next").click()
    expect(page).to_have_url(re.compile(rf"#/\?offset={last}$"))
    expect(summary).to_have_text(list_page(live, last)[1])
    expect(pager.locator("a")).to_have_text(["\u2190 Previous"])
    page.go_back()
    expect(summary).to_have_text(count)
    page.go_back()
    assert hash_of(page) == "#/"
    expect(summary).to_have_text(list_page(live, 0)[1])
    expect(ranks.first).to_have_text("1")
    page.go_forward()
    expect(summary).to_have_text(count)
    expect(ranks.first).to_have_text(str(PAGE + 1))

    # A shared link opens its page, form and all; a change of filter goes back to page 1.
    page.goto(live.url(f"#/?order=recent&offset={PAGE}", limit=PAGE))
    titles, count = list_page(live, PAGE, order="recent")
    expect(page.locator("#stories-body th.title a")).to_have_text(titles)
    expect(summary).to_have_text(count)
    expect(page.locator("#f-order")).to_have_value("recent")
    page.check('input[name="status"][value="merged"]')
    expect(page).to_have_url(
        re.compile(r"#/\?status=active&status=dormant&status=merged&order=recent$")
    )
    statuses = ["active", "dormant", "merged"]
    titles, count = list_page(live, 0, order="recent", status=statuses)
    expect(summary).to_have_text(count)
    expect(page.locator("#stories-body th.title a")).to_have_text(titles)
    expect(ranks.first).to_have_text("1")
    pager.locator("a.next").click()
    expect(page).to_have_url(re.compile(rf"&order=recent&offset={PAGE}$"))
    expect(summary).to_have_text(list_page(live, PAGE, order="recent", status=statuses)[1])
    page.fill("#f-q", "a")
    page.press("#f-q", "Enter")
    expect(page).to_have_url(
        re.compile(r"#/\?q=a&status=active&status=dormant&status=merged&order=recent$")
    )

    # Past the end (a list grown shorter since the link was shared): "previous" leads to
    # the last page there is.
    page.goto(live.url("#/?offset=40", limit=PAGE))
    expect(summary).to_have_text(f"None here: {total} stories in all.")
    expect(page.locator("#stories-body td.empty")).to_contain_text("No stories on this page")
    expect(pager.locator("a")).to_have_text(["\u2190 Previous"])
    assert pager.locator("a.prev").get_attribute("href") == f"#/?offset={last}"


# --- breaking ------------------------------------------------------------------------------


def test_breaking_lists_the_trending_stories_with_their_growth(page: Page, live: Live) -> None:
    trending = live.api("/api/trending", hours=6)
    assert trending["items"], "the demo has stories growing in its last 6 hours"
    page.get_by_role("link", name="Breaking").click()
    expect(page).to_have_url(re.compile(r"#/trending$"))
    expect(page.locator("#list-view")).to_be_hidden()
    expect(page.locator("#tab-trending")).to_have_attribute("aria-current", "page")
    items = page.locator("#trending-list > li")
    expect(items).to_have_count(len(trending["items"]))
    expect(items.locator("a.title")).to_have_text([story["title"] for story in trending["items"]])
    for index, story in enumerate(trending["items"]):
        item = items.nth(index)
        expect(item).to_have_attribute("data-story-id", str(story["id"]))
        assert item.locator("a.title").get_attribute("href") == f"#/story/{story['id']}"
        expect(item.locator(".factor")).to_have_text(f"{TIMES}{two_decimals(story['growth'])}")
        articles = (
            "1 article"
            if story["recent_articles"] == 1
            else (f"{story['recent_articles']} articles")
        )
        expect(item.locator(".why")).to_have_text(
            f": {articles} in the last 6 h vs {two_decimals(story['earlier_rate'])} expected"
        )
        expect(item).to_contain_text(when(trending["at"], story["last_seen"]))
    expect(page.locator("#trending-summary")).to_contain_text(f"up to {shown(trending['at'])}")
    screenshot(page, f"dashboard-trending-{live.backend}")

    page.select_option("#t-hours", "24")
    expect(page).to_have_url(re.compile(r"#/trending\?hours=24$"))
    day = live.api("/api/trending", hours=24)
    expect(items.locator("a.title")).to_have_text([story["title"] for story in day["items"]])
    expect(items.first.locator(".why")).to_contain_text("in the last 24 h")
    expect(items.first.locator(".factor")).to_have_text(
        f"{TIMES}{two_decimals(day['items'][0]['growth'])}"
    )

    top = day["items"][0]
    items.first.locator("a.title").click()
    expect(page).to_have_url(re.compile(rf"#/story/{top['id']}$"))
    expect(page.locator("#story-title")).to_have_text(top["title"])
    page.go_back()
    expect(page.locator("#trending-view")).to_be_visible()
    expect(page.locator("#t-hours")).to_have_value("24")


def test_breaking_offers_every_window_the_api_takes(page: Page, live: Live) -> None:
    """The API takes windows up to 48 hours; the box shows the one in the address."""
    page.goto(live.url("#/trending?hours=48"))
    expect(page.locator("#trending-view")).to_be_visible()
    expect(page.locator("#t-hours")).to_have_value("48")
    page.select_option("#t-hours", "12")
    expect(page).to_have_url(re.compile(r"#/trending\?hours=12$"))


def test_breaking_shows_more_on_request(page: Page, live: Live) -> None:
    """Breaking stops after its first stories (``PAGE`` here, 20 by default) with a "more"
    that shows all the API gives, up to its cap of 50."""
    day = [story["title"] for story in live.api("/api/trending", hours=48, limit=50)["items"]]
    assert len(day) > PAGE, "the demo has more stories growing in 48 h than a page"
    titles = page.locator("#trending-list a.title")
    more = page.locator("#trending-more a.more")
    page.goto(live.url("#/trending?hours=48", limit=PAGE))
    expect(titles).to_have_text(day[:PAGE])
    expect(page.locator("#trending-summary")).to_contain_text(f"The {PAGE} stories growing fastest")
    assert more.get_attribute("href") == "#/trending?hours=48&more=1"
    more.click()
    expect(titles).to_have_text(day)
    expect(more).to_have_count(0)
    expect(page.locator("#trending-summary")).to_contain_text(f"{len(day)} stories growing")
    screenshot(page, f"dashboard-trending-more-{live.backend}")

    # Kept in the URL, like every view; another window starts short again.
    page.reload()
    expect(titles).to_have_text(day)
    expect(page.locator("#t-hours")).to_have_value("48")
    page.select_option("#t-hours", "6")
    expect(page).to_have_url(re.compile(r"#/trending$"))
    six = live.api("/api/trending", hours=6, limit=50)["items"]
    expect(titles).to_have_text([story["title"] for story in six[:PAGE]])
    expect(more).to_have_count(1 if len(six) > PAGE else 0)
    page.go_back()
    expect(titles).to_have_text(day)


# --- one story -----------------------------------------------------------------------------


def test_a_click_opens_the_story_with_its_chart_outlets_and_articles(
    page: Page, live: Live
) -> None:
    ranked = live.api("/api/stories")["items"]
    raqqa = next(story for story in ranked if story["id"] == live.lineage.raqqa)
    story = live.api(f"/api/stories/{raqqa['id']}", article_limit=10)
    at = clock(live)

    page.get_by_role("link", name=raqqa["title"]).click()
    expect(page).to_have_url(re.compile(rf"#/story/{raqqa['id']}$"))
    expect(page.locator("#list-view")).to_be_hidden()
    expect(page.locator("#story-title")).to_have_text(story["title"])
    expect(page.locator("#story-meta")).to_contain_text(
        f"first {when(at, story['first_seen'])}, last {when(at, story['last_seen'])}"
    )

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
    first_outlet = story["sources"][0]["outlet"]
    assert outlets.first.get_attribute("href") == (
        f"#/?outlet={quote(first_outlet, safe='').replace('%20', '+')}"
    )

    links = page.locator("#story-articles li a")
    expect(links).to_have_text([article["title"] for article in story["article_page"]["items"]])
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs == [article["url"] for article in story["article_page"]["items"]]
    assert links.first.get_attribute("target") == "_blank"
    newest = story["article_page"]["items"][0]
    expect(page.locator("#story-articles li").first).to_contain_text(
        when(at, newest["published_at"])
    )
    screenshot(page, f"dashboard-story-{live.backend}")

    page.go_back()
    expect(page.locator("#list-view")).to_be_visible()
    expect(page.locator("#story-view")).to_be_hidden()


def test_the_articles_are_paged(page: Page, live: Live) -> None:
    story_id = live.lineage.raqqa
    first = live.api(f"/api/stories/{story_id}", article_limit=10)["article_page"]
    total = first["total"]
    assert total > 10, "the Raqqa story has more than one page of articles"
    page.goto(live.url(f"#/story/{story_id}"))
    titles = page.locator("#story-articles li a")
    expect(page.locator("#articles-count")).to_have_text(f"1{DASH}10 of {total} articles")
    expect(titles).to_have_text([article["title"] for article in first["items"]])
    expect(page.locator("#articles-pager a.newer")).to_have_count(0)

    page.locator("#articles-pager a.older").click()
    expect(page).to_have_url(re.compile(rf"#/story/{story_id}\?offset=10$"))
    second = live.api(f"/api/stories/{story_id}", article_limit=10, article_offset=10)
    items = second["article_page"]["items"]
    expect(page.locator("#articles-count")).to_have_text(
        f"11{DASH}{10 + len(items)} of {total} articles"
    )
    expect(titles).to_have_text([article["title"] for article in items])
    assert page.locator("#story-articles").get_attribute("start") == "11"
    expect(page.locator("#articles-pager a.older")).to_have_count(
        0 if 10 + len(items) >= total else 1
    )

    page.go_back()
    expect(page.locator("#articles-count")).to_have_text(f"1{DASH}10 of {total} articles")
    expect(titles).to_have_text([article["title"] for article in first["items"]])


def test_related_stories_link_to_them_with_their_similarity(page: Page, live: Live) -> None:
    story_id = live.lineage.raqqa
    related = live.api(f"/api/stories/{story_id}/related", limit=8)["items"]
    assert related, "the demo's stories have centroids"
    page.goto(live.url(f"#/story/{story_id}"))
    items = page.locator("#story-related > li")
    expect(items).to_have_count(len(related))
    links = items.locator("a")
    expect(links).to_have_text([other["title"] for other in related])
    assert [links.nth(i).get_attribute("href") for i in range(len(related))] == [
        f"#/story/{other['id']}" for other in related
    ]
    for index, other in enumerate(related):
        expect(items.nth(index)).to_contain_text(f"similarity {two_decimals(other['similarity'])}")
    assert story_id not in {other["id"] for other in related}

    links.first.click()
    nearest = related[0]
    expect(page).to_have_url(re.compile(rf"#/story/{nearest['id']}$"))
    expect(page.locator("#story-title")).to_have_text(nearest["title"])
    back_again = live.api(f"/api/stories/{nearest['id']}/related", limit=8)["items"]
    expect(page.locator("#story-related > li a")).to_have_text(
        [other["title"] for other in back_again]
    )


def test_lineage_links_merged_and_split_stories(page: Page, live: Live) -> None:
    lineage = live.lineage
    raqqa = live.api(f"/api/stories/{lineage.raqqa}", article_limit=1)
    assert raqqa["merged_from"] == [{"id": lineage.merged, "title": MERGED_TITLE}]
    page.goto(live.url(f"#/story/{lineage.raqqa}"))
    merged_from = page.locator("#story-lineage dd.merged-from a")
    expect(merged_from).to_have_text([MERGED_TITLE])
    assert merged_from.get_attribute("href") == f"#/story/{lineage.merged}"

    merged_from.click()
    expect(page.locator("#story-title")).to_have_text(MERGED_TITLE)
    expect(page.locator("#story-notice")).to_have_text(f"Merged into {raqqa['title']}.")
    merged_into = page.locator("#story-lineage dd.merged-into a")
    expect(merged_into).to_have_text([raqqa["title"]])
    assert merged_into.get_attribute("href") == f"#/story/{lineage.raqqa}"
    expect(page.locator("#story-history")).to_contain_text(f"merged (story {lineage.raqqa})")
    expect(page.locator("#articles-count")).to_have_text("None here: the story has 0 articles.")

    brussels = live.api(f"/api/stories/{lineage.brussels}", article_limit=1)
    assert brussels["split_into"] == [{"id": lineage.split, "title": SPLIT_TITLE}]
    page.goto(live.url(f"#/story/{lineage.brussels}"))
    split_into = page.locator("#story-lineage dd.split-into a")
    expect(split_into).to_have_text([SPLIT_TITLE])
    assert split_into.get_attribute("href") == f"#/story/{lineage.split}"
    split_into.click()
    expect(page.locator("#story-title")).to_have_text(SPLIT_TITLE)
    split_from = page.locator("#story-lineage dd.split-from a")
    expect(split_from).to_have_text([brussels["title"]])
    assert split_from.get_attribute("href") == f"#/story/{lineage.brussels}"
    expect(page.locator("#story-lineage dd.merged-from")).to_have_count(0)

    # A story with no lineage shows no lineage section.
    page.goto(live.url(f"#/story/{live.api('/api/trending')['items'][0]['id']}"))
    expect(page.locator("#story-title")).not_to_have_text("Loading…")
    expect(page.locator("#lineage-section")).to_be_hidden()


# Each of the chart's axis labels as drawn: its font in CSS px (the computed size times the
# SVG's scale, which a scaled-down chart shrinks), its box, and its text.
AXIS_LABELS = """
[...document.querySelectorAll("#story-chart .axis text")].map((text) => {
  const m = text.getScreenCTM();
  const box = text.getBoundingClientRect();
  return {
    text: text.textContent,
    axis: text.parentNode.classList.contains("x") ? "x" : "y",
    row: text.getAttribute("class") || "",
    px: parseFloat(getComputedStyle(text).fontSize) * Math.hypot(m.a, m.b),
    left: box.left, right: box.right, top: box.top, bottom: box.bottom,
  };
})
"""


def assert_readable_chart(page: Page) -> None:
    labels: list[dict[str, Any]] = page.evaluate(AXIS_LABELS)
    assert labels
    small = [(label["text"], round(label["px"], 2)) for label in labels if label["px"] < 10]
    assert not small, f"axis labels under 10 px: {small}"
    assert all(label["bottom"] - label["top"] >= 10 for label in labels), labels
    box = page.locator("#story-chart svg").bounding_box()
    assert box is not None
    for label in labels:
        assert box["x"] - 0.5 <= label["left"], label
        assert label["right"] <= box["x"] + box["width"] + 0.5, label
    # The x axis's days (and their hours) never touch one another.
    for row in ("", "sub"):
        xs = sorted(
            (label["left"], label["right"])
            for label in labels
            if label["axis"] == "x" and label["row"] == row
        )
        assert len(xs) >= 2
        assert all(right < left for (_, right), (left, _) in pairwise(xs)), xs


# The chart drawn at its width on the page, one unit a CSS px.
CHART_AT_ITS_WIDTH = """() => {
  const chart = document.querySelector("#story-chart svg");
  return chart !== null
    && Math.abs(chart.viewBox.baseVal.width - chart.getBoundingClientRect().width) < 1;
}"""


@pytest.mark.parametrize("width", [400, 1280], ids=["phone", "desktop"])
def test_the_charts_axis_labels_are_readable_at_any_width(
    page: Page, live: Live, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live.url(f"#/story/{live.lineage.raqqa}"))
    expect(page.locator("#story-chart svg rect.bar").first).to_be_visible()
    assert_readable_chart(page)
    # Turned to the other width (a phone turned, a window resized), it is drawn again.
    page.set_viewport_size({"width": 1680 - width, "height": 900})
    page.wait_for_function(CHART_AT_ITS_WIDTH)
    assert_readable_chart(page)


def test_an_unknown_story_says_so(page: Page, live: Live) -> None:
    page.goto(live.url("#/story/999999"))
    expect(page.locator("#story-title")).to_have_text("No story 999999")
    expect(page.locator("#story-chart svg")).to_have_count(0)


# --- the articles ------------------------------------------------------------------------

ELLIPSIS = "\u2026"


def first_lines(text: str) -> str:
    """An article's first lines as the page shows them: its white space run together, cut
    at a word near 200 characters, without the punctuation before the ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= 200:
        return flat
    cut = flat[:200]
    space = cut.rfind(" ")
    words = cut[:space] if space > 120 else cut
    return words.rstrip(" ,;:.\u2013\u2014-") + ELLIPSIS


def test_a_storys_articles_show_their_first_lines(page: Page, live: Live) -> None:
    story_id = live.lineage.raqqa
    items = live.api(f"/api/stories/{story_id}", article_limit=10)["article_page"]["items"]
    assert items[0]["id"] == live.read.page
    assert (items[0]["text"], items[0]["text_source"]) == (BODY, "page")
    assert {item["text_source"] for item in items[1:]} == {"feed"}
    page.goto(live.url(f"#/story/{story_id}"))
    articles = page.locator("#story-articles > li")
    expect(articles.locator(".excerpt")).to_have_text([first_lines(item["text"]) for item in items])
    # The page's body: its paragraphs run together, cut at a word, and said to be the page's.
    read = articles.first
    expect(read).to_have_attribute("data-text-source", "page")
    expect(read.locator(".detail")).to_contain_text("text from its page")
    shown = read.locator(".excerpt").inner_text()
    assert shown.startswith("French jets struck Islamic State targets in Raqqa overnight, the")
    assert shown.endswith(ELLIPSIS)
    assert len(shown) <= 201
    expect(articles.nth(1).locator(".detail")).not_to_contain_text("from its page")
    # A muted line under the title, not a link.
    assert read.locator(".excerpt a").count() == 0
    muted = read.locator(".excerpt").evaluate("e => getComputedStyle(e).color")
    title = read.locator("a").first.evaluate("e => getComputedStyle(e).color")
    assert muted != title


def article_titles(page: Page) -> list[str]:
    return page.locator("#article-list > li > :first-child").all_inner_texts()


def test_articles_in_no_story_are_browsed_and_searched(page: Page, live: Live) -> None:
    loose = live.api("/api/articles", unclustered="true", limit=50)
    assert 0 < loose["total"] <= 50
    link = page.locator("#unclustered-link")
    expect(link).to_have_text(f"{loose['total']} articles in no story")
    # A link the keyboard reaches and opens.
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/articles\?unclustered=1$"))
    expect(page.locator("#articles-title")).to_have_text("Articles in no story")
    expect(page.locator("#articles-title")).to_be_focused()
    expect(page.locator("#tab-articles")).to_have_attribute("aria-current", "page")
    expect(page.locator("#a-unclustered")).to_be_checked()
    expect(page.locator("#article-summary")).to_have_text(
        f"{loose['total']} articles, newest first."
    )
    expect(page.locator("#article-list > li")).to_have_count(loose["total"])
    assert article_titles(page) == [item["title"] for item in loose["items"]]
    expect(page.locator("#article-list .excerpt")).to_have_text(
        [first_lines(item["text"]) for item in loose["items"] if item["text"].strip()]
    )
    skipped = page.locator(f'#article-list li[data-article-id="{live.read.skipped}"]')
    expect(skipped.locator(".detail")).to_contain_text(
        f"in no story · page skipped: {SKIPPED_REASON}"
    )
    screenshot(page, f"dashboard-articles-{live.backend}")

    # A search of the text, in any case: a word of the newest one's first lines.
    word = max(loose["items"][0]["text"].split()[:8], key=len).strip(".,;:").upper()
    found = live.api("/api/articles", unclustered="true", q=word)
    assert 0 < found["total"] < loose["total"]
    page.fill("#a-q", word)
    page.press("#a-q", "Enter")
    expect(page).to_have_url(re.compile(rf"#/articles\?unclustered=1&q={quote(word)}$"))
    expect(page.locator("#article-summary")).to_have_text(
        f"{found['total']} article{'' if found['total'] == 1 else 's'} matching the search, "
        "newest first."
    )
    expect(page.locator("#article-list > li")).to_have_count(found["total"])
    assert article_titles(page) == [item["title"] for item in found["items"]]

    # Every article with that word, in a story or not; a story's is a link to it.
    page.uncheck("#a-unclustered")
    expect(page).to_have_url(re.compile(rf"#/articles\?q={quote(word)}$"))
    expect(page.locator("#articles-title")).to_have_text("Latest")
    everywhere = live.api("/api/articles", q=word)
    expect(page.locator("#article-list > li")).to_have_count(everywhere["total"])
    assert article_titles(page) == [item["title"] for item in everywhere["items"]]
    page.reload()
    expect(page.locator("#a-q")).to_have_value(word)
    expect(page.locator("#a-unclustered")).not_to_be_checked()
    page.go_back()
    expect(page.locator("#a-unclustered")).to_be_checked()
    expect(page.locator("#article-list > li")).to_have_count(found["total"])

    in_story = next(item for item in live.api("/api/articles")["items"] if item["story_id"])
    page.goto(live.url("#/articles"))
    story_link = page.locator(f'#article-list li[data-article-id="{in_story["id"]}"] a.story')
    expect(story_link).to_have_text(f"story {in_story['story_id']}")
    story_link.click()
    expect(page).to_have_url(re.compile(rf"#/story/{in_story['story_id']}$"))

    page.goto(live.url("#/articles?q=zzz-no-such-words"))
    expect(page.locator("#article-list li.empty")).to_have_text("No article matches this search.")
    page.locator("#a-clear").click()
    expect(page).to_have_url(re.compile(r"#/articles$"))
    expect(page.locator("#a-q")).to_have_value("")


def test_the_articles_are_paged_and_the_page_kept_in_the_url(page: Page, live: Live) -> None:
    total = live.api("/api/articles", unclustered="true")["total"]
    assert total > 2 * PAGE
    page.goto(live.url("#/articles?unclustered=1", limit=PAGE))
    summary = page.locator("#article-summary")
    expect(summary).to_have_text(f"1{DASH}{PAGE} of {total} articles, newest first.")
    page.locator("#article-pager a.older").click()
    expect(page).to_have_url(re.compile(rf"#/articles\?unclustered=1&offset={PAGE}$"))
    second = live.api("/api/articles", unclustered="true", limit=PAGE, offset=PAGE)
    expect(summary).to_have_text(f"{PAGE + 1}{DASH}{2 * PAGE} of {total} articles, newest first.")
    assert article_titles(page) == [item["title"] for item in second["items"]]
    assert page.locator("#article-list").get_attribute("start") == str(PAGE + 1)
    expect(summary).to_be_focused()
    page.go_back()
    expect(summary).to_have_text(f"1{DASH}{PAGE} of {total} articles, newest first.")


# --- a phone's width -----------------------------------------------------------------------


@pytest.mark.parametrize("view", ["list", "list-page2", "trending", "story", "articles"])
def test_the_layout_holds_at_400_px(narrow: Page, live: Live, view: str) -> None:
    story = live.lineage.raqqa
    hash_, ready, limit = {
        "list": ("#/", "#stories-body th.title a", None),
        "list-page2": (f"#/?offset={PAGE}", "#stories-pager a.next", PAGE),
        "trending": ("#/trending", "#trending-list a.title", None),
        "story": (f"#/story/{story}", "#story-articles li a", None),
        "articles": ("#/articles?unclustered=1", "#article-list .excerpt", None),
    }[view]
    narrow.goto(live.url(hash_, limit))
    expect(narrow.locator(ready).first).to_be_visible()
    if view == "list-page2":
        # One card per story, the pager's links side by side under them.
        expect(narrow.locator("#stories-body tr")).to_have_count(PAGE)
        expect(narrow.locator("#stories-pager a")).to_have_count(2)
        assert narrow.locator("#stories-body").evaluate("e => getComputedStyle(e).display") == (
            "block"
        )
    if view == "story":
        expect(narrow.locator("#story-related li a").first).to_be_visible()
        expect(narrow.locator("#story-chart svg")).to_be_visible()
        assert_readable_chart(narrow)
    assert narrow.evaluate("window.innerWidth") == 400
    width = narrow.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the {view} view is {width} px wide at 400 px"
    # Nothing is cut off either: every story link lies within the page.
    rights = narrow.evaluate(
        "[...document.querySelectorAll('main a')].map((a) => a.getBoundingClientRect().right)"
    )
    assert rights
    assert max(rights) <= 400, rights
    screenshot(narrow, f"dashboard-{view}-400px-{live.backend}")


# --- live updates (this changes the database: keep it after the tests that read it) --------


def test_a_new_story_appears_without_a_reload(page: Page, live: Live) -> None:
    expect(page.locator("#stories-body tr")).not_to_have_count(0)
    page.evaluate("window.__sameDocument = 'yes'")
    before = page.locator("#status time.updated").get_attribute("datetime")
    # Markup in a headline is text, never markup.
    title = "Comet <b>lights up</b> the sky over Lisbon, astronomers say"
    add_story(live.engine, title)

    expect(page.get_by_role("link", name=title)).to_be_visible()
    expect(page.locator("#stories-body b")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") == "yes"  # the page never reloaded
    expect(page.locator("#status time.updated")).not_to_have_attribute("datetime", before or "")
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
    screenshot(page, f"api-docs-{live.backend}")
    paths = set(operations.all_inner_texts())
    context.close()
    assert {"/api/health", "/api/stories", "/api/stories/{story_id}"} <= {
        path.replace("\u200b", "") for path in paths
    }, paths
    assert outside == []

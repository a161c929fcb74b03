"""The desk's Breaking marks, a missing story, the filters on a phone, a chart spanning
years and Latest reaching every article, in Chromium on both backends (the demo's database
with test_dashboard's lineage added), with screenshots at 1280 and 400 px kept under
``test-artifacts/screenshots/`` as test_dashboard's are."""

# The fixtures imported from test_dashboard are used by name, as the tests' arguments.
# ruff: noqa: F811
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from models import Article, ClusterRun, Story, StoryHour
from pipeline.db import session_scope
from tests.serve.test_dashboard import (  # noqa: F401
    DASH,
    Live,
    browser,
    demo_url,
    hash_of,
    live,
    narrow,
    open_page,
    page,
    screenshot,
)

pytestmark = [pytest.mark.browser]

LONG_TITLE = "Four years of the Raqqa front: strikes, sieges and retreats"
WIDTHS = pytest.mark.parametrize("width", [1280, 400], ids=["desktop", "phone"])


@pytest.fixture
def sized(browser: Browser, live: Live, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page at the test's ``width``."""
    yield from open_page(browser, live, request.node.callspec.params["width"])


# --- Breaking ------------------------------------------------------------------------------


@WIDTHS
def test_breaking_marks_each_growing_story_new_or_developing(
    sized: Page, live: Live, width: int
) -> None:
    trending = live.api("/api/trending", hours=48)
    items = trending["items"]
    # Only stories growing against their own pace, each with the minimum of new articles.
    assert items
    assert all(s["growth"] > 1 and s["recent_articles"] >= trending["min_articles"] for s in items)
    assert all(s["recent_articles"] > s["earlier_rate"] for s in items)
    assert {s["mark"] for s in items} == {"new", "developing"}, "the demo has both at 48 h"
    # The Brussels manhunt slowed down (1 article against 6 in the 48 h before): left out.
    every = live.api("/api/trending", hours=48, min_articles=1)["items"]
    assert live.lineage.brussels not in {s["id"] for s in every}

    sized.goto(live.url("#/trending?hours=48"))
    expect(sized.locator("#t-hours")).to_have_value("48")
    listed = sized.locator("#trending-list > li")
    expect(listed).to_have_count(len(items))
    for index, story in enumerate(items):
        item = listed.nth(index)
        expect(item).to_have_attribute("data-mark", story["mark"])
        expect(item.locator(".badge.mark")).to_have_text(story["mark"])
    expect(sized.locator("#trending-summary")).to_contain_text(
        f"each has {trending['min_articles']} or more new articles"
    )
    screenshot(sized, f"breaking-marks-{width}px-{live.backend}")


# --- a story that is not there ---------------------------------------------------------------


@WIDTHS
def test_a_missing_story_says_so_once_without_empty_sections(
    sized: Page, live: Live, width: int
) -> None:
    sized.goto(live.url("#/story/999"))
    expect(sized.locator("#story-title")).to_have_text("No story 999")
    expect(sized.locator("#story-meta")).to_have_text(re.compile("no such story"))
    expect(sized.locator("#story-body")).to_be_hidden()
    # No heading of a story's sections is shown, and nothing from a story drawn before.
    expect(sized.locator("#story-view h3:visible")).to_have_count(0)
    expect(sized.locator("#story-chart")).to_be_hidden()
    assert sized.title() == "Story not found · Storyline"
    screenshot(sized, f"missing-story-{width}px-{live.backend}")

    # A real story after it shows its sections again.
    sized.goto(live.url(f"#/story/{live.lineage.raqqa}"))
    expect(sized.locator("#history-heading")).to_be_visible()
    expect(sized.locator("#story-body")).to_be_visible()


# --- the filters on a phone ----------------------------------------------------------------


def test_the_filters_fold_behind_a_toggle_on_a_phone(narrow: Page, live: Live) -> None:
    expect(narrow.locator("#stories-body th.title a").first).to_be_visible()
    details = narrow.locator("#more-filters")
    summary = narrow.locator("#more-filters-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_text("Filters")
    assert details.get_attribute("open") is None
    expect(narrow.locator("#f-outlet")).to_be_hidden()
    # The search box stays; the form takes under a third of the first screen.
    expect(narrow.locator("#f-q")).to_be_visible()
    height = narrow.locator("#filters").bounding_box()
    assert height is not None
    screen = narrow.evaluate("window.innerHeight")
    assert height["height"] < 0.3 * screen, (height["height"], screen)
    screenshot(narrow, f"filters-folded-400px-{live.backend}")

    # A button the keyboard opens, which says whether it is open.
    summary.focus()
    narrow.keyboard.press("Enter")
    expect(narrow.locator("#f-outlet")).to_be_visible()
    assert details.get_attribute("open") is not None
    narrow.fill("#f-since", "2015-11-18")
    expect(narrow).to_have_url(re.compile(r"#/\?since=2015-11-18$"))
    expect(summary).to_have_text("Filters (1 set)")
    screenshot(narrow, f"filters-open-400px-{live.backend}")


def test_the_filters_are_all_shown_on_a_wide_screen(page: Page, live: Live) -> None:
    expect(page.locator("#stories-body th.title a").first).to_be_visible()
    expect(page.locator("#more-filters-summary")).to_be_hidden()
    for field in ("#f-q", "#f-outlet", "#f-since", "#f-until", "#f-order"):
        expect(page.locator(field)).to_be_visible()
    # The date boxes take and show ISO days, as the page shows its days (no mm/dd/yyyy).
    assert page.locator("#f-since").get_attribute("placeholder") == "yyyy-mm-dd"
    page.fill("#f-until", "2015-11-16")
    expect(page).to_have_url(re.compile(r"#/\?until=2015-11-16$"))
    expect(page.locator("#f-until")).to_have_value("2015-11-16")
    screenshot(page, f"filters-1280px-{live.backend}")


# --- a chart over years --------------------------------------------------------------------


def add_long_story(live: Live) -> int:
    """A dormant story whose timeline runs over four years, a few articles a month."""
    with session_scope(live.engine) as session:
        found = session.scalar(select(Story.id).where(Story.title == LONG_TITLE))
        if found is not None:
            return found
        run = session.scalars(select(ClusterRun).order_by(ClusterRun.id.desc())).first()
        assert run is not None
        start = datetime(2011, 6, 1, 9, tzinfo=UTC)
        hours = [start + timedelta(days=17 * k, hours=k % 11) for k in range(90)]
        story = Story(
            title=LONG_TITLE,
            article_count=sum(1 + k % 4 for k in range(90)),
            source_count=3,
            original_count=0,
            first_seen=hours[0],
            last_seen=hours[-1],
            model=run.model,
            status="dormant",
            keywords=["raqqa", "front"],
            created_at=run.finished_at,
            updated_at=run.finished_at,
        )
        session.add(story)
        session.flush()
        session.add_all(
            StoryHour(story_id=story.id, hour=hour, article_count=1 + k % 4, outlet_count=1)
            for k, hour in enumerate(hours)
        )
        return story.id


@WIDTHS
def test_a_chart_spanning_years_shows_years_and_readable_bars(
    sized: Page, live: Live, width: int
) -> None:
    story_id = add_long_story(live)
    story = live.api(f"/api/stories/{story_id}", article_limit=1)
    assert len(story["timeline"]) == 90
    sized.goto(live.url(f"#/story/{story_id}"))
    chart = sized.locator("#story-chart svg")
    expect(chart).to_be_visible()
    unit = chart.get_attribute("data-unit")
    assert unit not in (None, "hour"), unit
    expect(sized.locator("#chart-caption")).to_have_text(f"Articles per {unit}")
    bars = sized.locator("#story-chart rect.bar")
    widths = [float(w) for w in bars.evaluate_all("bars => bars.map(b => b.getAttribute('width'))")]
    assert min(widths) >= 3, min(widths)
    drawn = sum(int(n) for n in bars.evaluate_all("bs => bs.map(b => b.dataset.articles)"))
    assert drawn == sum(point["articles"] for point in story["timeline"])
    # The years under the days, the first and the last of them at least.
    years = sized.locator("#story-chart .axis.x text.sub").evaluate_all(
        "texts => texts.map(t => t.textContent)"
    )
    assert years[0] == "2011"
    assert years[-1] == str(datetime.fromisoformat(story["last_seen"]).year)
    # Long ago in years, not in 1520 days; every time says its zone.
    expect(sized.locator("#story-meta")).to_contain_text("years before the latest run")
    expect(sized.locator("#story-meta")).not_to_contain_text("days before")
    expect(sized.locator("#story-meta")).to_contain_text("UTC")
    screenshot(sized, f"chart-years-{width}px-{live.backend}")


# --- Latest --------------------------------------------------------------------------------


def article_ids(page: Page) -> list[int]:
    ids = page.locator("#article-list > li").evaluate_all(
        "items => items.map(li => Number(li.dataset.articleId))"
    )
    return [int(i) for i in ids]


@WIDTHS
def test_latest_reaches_every_article_in_a_story_or_not(
    sized: Page, live: Live, width: int
) -> None:
    with session_scope(live.engine) as session:
        everything = set(session.scalars(select(Article.id)))
        total = session.scalar(select(func.count()).select_from(Article))
    assert total == len(everything) == 62, "the demo's 62 articles"
    sized.goto(live.url("#/"))
    tab = sized.locator("#tab-articles")
    expect(tab).to_have_text("Latest")
    tab.click()
    expect(sized).to_have_url(re.compile(r"#/articles$"))
    expect(sized.locator("#articles-title")).to_have_text("Latest")
    summary = sized.locator("#article-summary")
    expect(summary).to_have_text(f"1{DASH}50 of {total} articles, newest first.")
    seen = article_ids(sized)
    screenshot(sized, f"latest-{width}px-{live.backend}")
    sized.locator("#article-pager a.older").click()
    expect(summary).to_have_text(f"51{DASH}{total} of {total} articles, newest first.")
    seen += article_ids(sized)
    assert len(seen) == len(set(seen)) == total
    assert set(seen) == everything
    # Newest first, across the pages, as the API lists them.
    listed = [
        item["id"]
        for offset in (0, 50)
        for item in live.api("/api/articles", limit=50, offset=offset)["items"]
    ]
    assert seen == listed
    # Articles in no story are among them, marked so; #/latest is the same view.
    second = live.api("/api/articles", limit=50, offset=50)["items"]
    loose = sum(1 for item in second if item["story_id"] is None)
    expect(sized.locator("#article-list .detail").filter(has_text="in no story")).to_have_count(
        loose
    )
    assert any(item["story_id"] is None for item in live.api("/api/articles", limit=50)["items"])
    sized.goto(live.url("#/latest"))
    expect(sized.locator("#articles-title")).to_have_text("Latest")
    expect(sized.locator("#tab-articles")).to_have_attribute("aria-current", "page")


def test_a_storys_page_lists_its_articles_with_their_first_lines(page: Page, live: Live) -> None:
    story = live.api(f"/api/stories/{live.lineage.brussels}", article_limit=10)
    page.goto(live.url(f"#/story/{live.lineage.brussels}"))
    items = page.locator("#story-articles > li")
    expect(items).to_have_count(len(story["article_page"]["items"]))
    with_text = [a for a in story["article_page"]["items"] if a["text"].strip()]
    assert with_text
    expect(page.locator("#story-articles .excerpt")).to_have_count(len(with_text))


# --- who broke it --------------------------------------------------------------------------


@WIDTHS
def test_broke_it_is_the_first_report_of_the_event(sized: Page, live: Live, width: int) -> None:
    """The Saint-Denis raid: Meridian Wire's article naming the suspect, two days before,
    joined the story; The Atlas Post reported the raid first."""
    raid = next(s for s in live.api("/api/stories")["items"] if "Saint-Denis raid" in s["title"])
    sources = live.api(f"/api/stories/{raid['id']}", article_limit=1)["sources"]
    first = [s["outlet"] for s in sources if s["arrival_rank"] == 1]
    assert first == ["The Atlas Post"]
    meridian = next(s for s in sources if s["outlet"] == "Meridian Wire")
    assert meridian["first_article_at"] < meridian["first_report_at"]
    sized.goto(live.url(f"#/story/{raid['id']}"))
    outlets = sized.locator("#story-outlets > li")
    expect(outlets.locator(".outlet")).to_have_text([s["outlet"] for s in sources])
    expect(outlets.filter(has_text="broke it").locator(".outlet")).to_have_text(first)
    expect(outlets.filter(has_text="Meridian Wire")).to_contain_text("(background from ")
    screenshot(sized, f"broke-it-{width}px-{live.backend}")


def test_a_parents_history_shows_its_split(page: Page, live: Live) -> None:
    """Lineage says the Brussels manhunt split into another story; its history says so too."""
    lineage = live.lineage
    history = live.api(f"/api/stories/{lineage.brussels}", article_limit=1)["history"]
    assert [(e["relation"], e["other_story_id"]) for e in history if e["kind"] == "split"] == [
        ("split into", lineage.split)
    ]
    page.goto(live.url(f"#/story/{lineage.brussels}"))
    events = page.locator("#story-history > li")
    expect(events.filter(has_text="split into")).to_have_count(1)
    expect(events.filter(has_text="split into")).to_contain_text(f"(story {lineage.split})")
    expect(events.filter(has_text="split into").locator("a")).to_have_attribute(
        "href", f"#/story/{lineage.split}"
    )


def test_a_date_box_takes_only_a_real_day(page: Page, live: Live) -> None:
    expect(page.locator("#stories-body th.title a").first).to_be_visible()
    page.fill("#f-since", "2015-02-30")
    assert hash_of(page) in ("", "#/")
    invalid = page.locator("#f-since").evaluate("box => !box.checkValidity()")
    assert invalid
    page.fill("#f-since", "2015-11-17")
    expect(page).to_have_url(re.compile(r"#/\?since=2015-11-17$"))
    assert page.locator("#f-since").evaluate("box => box.checkValidity()")

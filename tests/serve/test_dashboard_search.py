"""Search on the desk, in a real headless browser on both backends (``test_dashboard``'s
served demo): a story found through the words of its articles, an accent left out, an
outlet by part of its name, and the Articles view's search. Screenshots are kept as
``dashboard-search-*-<backend>.png`` under ``test-artifacts/screenshots/``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.serve import test_dashboard as dashboard
from tests.serve.test_dashboard import Live, article_titles, screenshot

# test_dashboard's fixtures, by their names: the demo served, the browser, a page.
demo_url = dashboard.demo_url
live = dashboard.live
browser = dashboard.browser
page = dashboard.page

pytestmark = [pytest.mark.browser]


def story_titles(served: Live, **params: str) -> list[str]:
    return [story["title"] for story in served.api("/api/stories", **params)["items"]]


def test_the_story_list_finds_stories_by_their_articles_words(page: Page, live: Live) -> None:
    expect(page.locator("#stories-body tr")).not_to_have_count(0)
    everything = live.api("/api/stories")["items"]
    # "Hollande" is named in articles' text, in no story's title or keywords.
    named = [
        story
        for story in everything
        if "hollande" in (story["title"] + " ".join(story["keywords"])).lower()
    ]
    assert named == []
    found = story_titles(live, q="hollande")
    assert 0 < len(found) < len(everything)
    page.fill("#f-q", "hollande")
    page.press("#f-q", "Enter")
    expect(page).to_have_url(re.compile(r"#/\?q=hollande$"))
    expect(page.locator("#stories-body th.title a")).to_have_text(found)

    # No accent typed, a hyphen for a space: "François Molins" of the Saint-Denis raid.
    found = story_titles(live, q="francois-molins")
    assert found
    assert all("Saint-Denis" in title for title in found)
    page.fill("#f-q", "francois-molins")
    page.press("#f-q", "Enter")
    expect(page.locator("#stories-body th.title a")).to_have_text(found)

    # The outlet box takes part of a name, in any case.
    page.locator("#f-clear").click()
    expect(page.locator("#stories-body tr")).to_have_count(len(everything))
    by_outlet = story_titles(live, outlet="Harbor Daily")
    assert by_outlet == story_titles(live, outlet="harbor daily")
    page.fill("#f-q", "saint denis")
    page.fill("#f-outlet", "harbor daily")
    page.press("#f-outlet", "Enter")
    expect(page).to_have_url(re.compile(r"#/\?q=saint\+denis&outlet=harbor\+daily$"))
    both = story_titles(live, q="saint denis", outlet="harbor daily")
    assert both
    assert set(both) <= set(by_outlet)
    expect(page.locator("#stories-body th.title a")).to_have_text(both)
    screenshot(page, f"dashboard-search-stories-{live.backend}")


@pytest.mark.parametrize(
    ("view", "first", "second", "wanted"),
    [
        ("#/", "#f-q", "#f-outlet", r"#/\?q=saint\+denis&outlet=harbor$"),
        ("#/articles", "#a-q", "#a-outlet", r"#/articles\?q=saint\+denis&outlet=harbor$"),
    ],
)
def test_a_box_typed_while_the_one_before_applies_keeps_its_words(
    page: Page, live: Live, view: str, first: str, second: str, wanted: str
) -> None:
    """Leaving a box applies it (its "change"); the route that answers arrives a moment later,
    when the editor is already typing in the next box, and must not empty it."""
    page.goto(live.url(view))
    page.locator(first).wait_for()
    # In one go, so the hash change is certain to arrive after the second box is typed in.
    page.evaluate(
        """([first, second]) => {
            const box = document.querySelector(first);
            box.value = "saint denis";
            box.dispatchEvent(new Event("change", { bubbles: true }));
            document.querySelector(second).value = "harbor";
        }""",
        [first, second],
    )
    expect(page).to_have_url(re.compile(r"q=saint\+denis$"))
    expect(page.locator(second)).to_have_value("harbor")
    page.press(second, "Enter")
    expect(page).to_have_url(re.compile(wanted))


def test_the_articles_view_finds_words_without_their_accents(page: Page, live: Live) -> None:
    page.goto(live.url("#/articles"))
    expect(page.locator("#article-list > li")).not_to_have_count(0)
    found = live.api("/api/articles", q="FRANCOIS")
    assert found["total"] > 0
    assert all("François" in item["title"] + item["text"] for item in found["items"])
    page.fill("#a-q", "FRANCOIS")
    page.press("#a-q", "Enter")
    expect(page).to_have_url(re.compile(r"#/articles\?q=FRANCOIS$"))
    expect(page.locator("#article-list > li")).to_have_count(found["total"])
    assert article_titles(page) == [item["title"] for item in found["items"]]
    screenshot(page, f"dashboard-search-articles-{live.backend}")

    # Nothing but the syntax of a search engine: no word, no article, no error.
    page.fill("#a-q", '"( -* ^:')
    page.press("#a-q", "Enter")
    expect(page.locator("#article-list li.empty")).to_have_text("No article matches this search.")


def test_latest_filters_by_outlet_part_and_days(page: Page, live: Live) -> None:
    page.goto(live.url("#/articles"))
    expect(page.locator("#article-list > li")).not_to_have_count(0)
    # Part of an outlet's name, any case: the same articles as the outlet's full name.
    found = live.api("/api/articles", outlet="Harbor Daily", limit=200)
    assert 0 < found["total"] < live.api("/api/articles")["total"]
    assert found == live.api("/api/articles", outlet="harbor", limit=200)
    page.fill("#a-outlet", "harbor")
    page.press("#a-outlet", "Enter")
    expect(page).to_have_url(re.compile(r"#/articles\?outlet=harbor$"))
    expect(page.locator("#article-summary")).to_have_text(
        f"{found['total']} articles matching the search, newest first."
    )
    assert article_titles(page) == [item["title"] for item in found["items"]]
    # One UTC day, typed as yyyy-mm-dd: applied as soon as the box holds a whole day.
    day = found["items"][-1]["published_at"][:10]
    on_day = live.api(
        "/api/articles",
        outlet="harbor",
        since=f"{day}T00:00:00Z",
        until=f"{day}T23:59:59.999Z",
        limit=200,
    )
    assert 0 < on_day["total"] < found["total"]
    page.fill("#a-since", day)
    page.fill("#a-until", day)
    expect(page).to_have_url(re.compile(rf"#/articles\?outlet=harbor&since={day}&until={day}$"))
    expect(page.locator("#article-list > li")).to_have_count(on_day["total"])
    assert article_titles(page) == [item["title"] for item in on_day["items"]]
    screenshot(page, f"dashboard-latest-filtered-{live.backend}")
    page.locator("#a-clear").click()
    expect(page).to_have_url(re.compile(r"#/articles$"))
    expect(page.locator("#a-outlet")).to_have_value("")

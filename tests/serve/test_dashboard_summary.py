"""The summary on the desk, in a real headless browser (both backends): each story's first
sentence under its headline on the list, and on the story page its two or three sentences,
each with its outlet linked to the article it is from. Screenshots are kept as
``dashboard-summary-list-<backend>.png`` and ``dashboard-summary-story-<backend>.png``."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.serve.test_dashboard import (
    Live,
    browser,
    demo_url,
    live,
    page,
    pytestmark,
    screenshot,
)

__all__ = ["browser", "demo_url", "live", "page", "pytestmark"]


def test_the_list_shows_each_storys_first_sentence_under_its_headline(
    page: Page, live: Live
) -> None:
    ranked = live.api("/api/stories")["items"]
    # The demo's stories have a summary; the lineage the fixture adds by hand has none.
    summarised = [story for story in ranked if story["lead"]]
    assert len(summarised) >= 5
    rows = page.locator("#stories-body tr[data-story-id]")
    expect(rows).to_have_count(len(ranked))
    expect(page.locator("#stories-body th.title .lead")).to_have_text(
        [story["lead"]["sentence"] for story in summarised]
    )
    first = page.locator(f"#stories-body tr[data-story-id='{summarised[0]['id']}'] th.title")
    # Under the headline: the sentence's box starts below the link's.
    link_box = first.locator("a").bounding_box()
    lead_box = first.locator(".lead").bounding_box()
    assert link_box is not None
    assert lead_box is not None
    assert lead_box["y"] >= link_box["y"] + link_box["height"] - 1
    screenshot(page, f"dashboard-summary-list-{live.backend}")


def test_the_story_page_shows_its_sentences_with_their_outlets_linked(
    page: Page, live: Live
) -> None:
    ranked = live.api("/api/stories")["items"]
    first = next(story for story in ranked if story["lead"])
    story = live.api(f"/api/stories/{first['id']}")
    summary = story["summary"]
    assert 2 <= len(summary) <= 3
    page.get_by_role("link", name=story["title"]).click()
    expect(page).to_have_url(re.compile(rf"#/story/{story['id']}$"))
    items = page.locator("#story-summary li")
    expect(items).to_have_count(len(summary))
    expect(items.locator("q")).to_have_text([part["sentence"] for part in summary])
    outlets = items.locator("a")
    expect(outlets).to_have_text([part["outlet"] for part in summary])
    for index, part in enumerate(summary):
        assert outlets.nth(index).get_attribute("href") == part["url"]
        assert outlets.nth(index).get_attribute("target") == "_blank"
        assert items.nth(index).get_attribute("data-article-id") == str(part["article_id"])
    screenshot(page, f"dashboard-summary-story-{live.backend}")


def test_an_unknown_story_shows_no_summary(page: Page, live: Live) -> None:
    page.goto(live.url("#/story/999999"))
    expect(page.locator("#story-title")).to_have_text("No story 999999")
    expect(page.locator("#story-summary li")).to_have_count(0)

"""People, places and organisations on the desk, in real Chromium (both backends): typed
chips on the list and the story page, told apart without colour, that filter the list when
clicked, the filter kept in the URL. Screenshots: ``dashboard-entities-*.png``."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.serve.test_dashboard import (  # noqa: F401 (fixtures)
    Live,
    browser,
    demo_url,
    hash_of,
    live,
    page,
    screenshot,
    table_titles,
)

pytestmark = [pytest.mark.browser]


def test_chips_on_the_list_are_typed_and_filter_it(page: Page, live: Live) -> None:  # noqa: F811
    stories = live.api("/api/stories")["items"]
    expect(page.locator("#stories-body tr")).to_have_count(len(stories))
    for story in stories:
        row = page.locator(f'#stories-body tr[data-story-id="{story["id"]}"]')
        chips = row.locator("ul.entities a.chip")
        expect(chips).to_have_count(len(story["entities"]))
        # each chip says its kind in words to a screen reader, and shows it by a symbol
        # and a border style as well as a colour
        expect(chips).to_have_text(
            [f"{entity['kind']}: {entity['name']}" for entity in story["entities"]]
        )
    styles = {
        kind: page.locator(f"#stories-body a.chip-{kind}").first.evaluate(
            "(chip) => [getComputedStyle(chip).borderTopStyle,"
            " getComputedStyle(chip.querySelector('.chip-kind'), '::before').content]"
        )
        for kind in ("person", "place", "organisation")
    }
    assert len({style for style, _ in styles.values()}) == 3, styles
    assert len({symbol for _, symbol in styles.values()}) == 3, styles
    expect(page.locator("#stories-body ul.entities").first).to_have_attribute(
        "aria-label", re.compile(r"^People, places and organisations of ")
    )
    screenshot(page, f"dashboard-entities-list-{live.backend}")

    # A click on a person narrows the list to the stories that name them.
    abdeslam = next(
        entity
        for story in stories
        for entity in story["entities"]
        if entity["name"] == "Salah Abdeslam"
    )
    page.locator(f'#stories-body a.chip[data-entity-id="{abdeslam["id"]}"]').first.click()
    assert hash_of(page) == f"#/?entity={abdeslam['id']}"
    naming = live.api("/api/stories", entity=abdeslam["id"])
    assert 0 < naming["total"] < len(stories)
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [story["title"] for story in naming["items"]]
    )
    note = page.locator("#entity-filter")
    expect(note).to_be_visible()
    expect(note).to_contain_text("Stories naming person: Salah Abdeslam")
    expect(page.locator("#list-summary")).to_contain_text("matching the filters")
    screenshot(page, f"dashboard-entities-filtered-{live.backend}")

    # The filter is in the URL: a reload keeps it; other filters join it; "show all" ends it.
    page.reload()
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [story["title"] for story in naming["items"]]
    )
    page.select_option("#f-order", "size")
    expect(page).to_have_url(re.compile(rf"#/\?order=size&entity={abdeslam['id']}$"))
    show_all = note.get_by_role("link", name="show all stories")
    expect(show_all).to_have_attribute("href", "#/?order=size")  # drawn for this view
    show_all.click()
    expect(page).to_have_url(re.compile(r"#/\?order=size$"))
    expect(note).to_be_hidden()
    expect(page.locator("#stories-body tr")).to_have_count(len(stories))


def test_chips_on_the_story_page_filter_the_list(page: Page, live: Live) -> None:  # noqa: F811
    story = next(s for s in live.api("/api/stories")["items"] if "Raqqa" in s["title"])
    page.goto(live.url(f"#/story/{story['id']}"))
    chips = page.locator("#story-entities a.chip")
    expect(chips).to_have_text([f"{e['kind']}: {e['name']}" for e in story["entities"]])
    kinds = [e["kind"] for e in story["entities"]]
    assert {"person", "place", "organisation"} <= set(kinds)
    for index, kind in enumerate(kinds):
        expect(chips.nth(index)).to_have_attribute("data-kind", kind)
        expect(chips.nth(index)).to_have_attribute(
            "title", re.compile(rf"^Stories naming .+ \({kind}, in \d+ articles?\)$")
        )
    screenshot(page, f"dashboard-entities-story-{live.backend}")

    raqqa = next(e for e in story["entities"] if e["name"] == "Raqqa")
    page.locator(f'#story-entities a.chip[data-entity-id="{raqqa["id"]}"]').focus()
    page.keyboard.press("Enter")  # a chip is a link: the keyboard follows it too
    assert hash_of(page) == f"#/?entity={raqqa['id']}"
    naming = live.api("/api/stories", entity=raqqa["id"])
    expect(page.locator("#stories-body th.title a")).to_have_text(
        [s["title"] for s in naming["items"]]
    )
    assert story["title"] in table_titles(page)
    expect(page.locator("#entity-filter")).to_contain_text("place: Raqqa")


def test_an_unknown_entity_lists_no_story_and_says_so(page: Page, live: Live) -> None:  # noqa: F811
    page.goto(live.url("#/?entity=2147483647"))
    expect(page.locator("#entity-filter")).to_contain_text(
        "No person, place or organisation has the id 2147483647"
    )
    expect(page.locator("#stories-body td.empty")).to_have_text("No story matches these filters.")

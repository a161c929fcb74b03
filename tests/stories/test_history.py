from __future__ import annotations

from pipeline.stories.history import EventKind, StoryEvent, membership_events


def test_new_story_is_created() -> None:
    events = membership_events({}, {1: 10, 2: 10}, {10}, {}, {10: 2}, set())
    assert events == [StoryEvent(10, EventKind.CREATED)]


def test_story_that_grows() -> None:
    events = membership_events(
        {1: 10, 2: 10}, {1: 10, 2: 10, 3: 10}, set(), {10: 2}, {10: 3}, set()
    )
    assert events == [StoryEvent(10, EventKind.GREW)]


def test_two_stories_merge_into_the_survivor() -> None:
    before = {1: 10, 2: 10, 3: 11, 4: 11, 5: 11}
    after = {1: 11, 2: 11, 3: 11, 4: 11, 5: 11}
    events = membership_events(before, after, set(), {10: 2, 11: 3}, {10: 0, 11: 5}, set())
    assert events == [StoryEvent(10, EventKind.MERGED, 11), StoryEvent(11, EventKind.GREW)]


def test_split_keeps_the_id_on_the_larger_part() -> None:
    before = {1: 10, 2: 10, 3: 10, 4: 10, 5: 10}
    after = {1: 10, 2: 10, 3: 10, 4: 12, 5: 12}
    events = membership_events(before, after, {12}, {10: 5}, {10: 3, 12: 2}, set())
    assert events == [StoryEvent(12, EventKind.SPLIT, 10)]


def test_dormant_story_that_returns_is_revived() -> None:
    events = membership_events({}, {7: 10}, set(), {10: 4}, {10: 5}, {10})
    assert events == [StoryEvent(10, EventKind.REVIVED)]


def test_story_whose_articles_became_noise_dissolves() -> None:
    events = membership_events({1: 10, 2: 10}, {1: None, 2: None}, set(), {10: 2}, {10: 0}, set())
    assert events == [StoryEvent(10, EventKind.DISSOLVED)]


def test_unchanged_story_has_no_event() -> None:
    assert membership_events({1: 10}, {1: 10}, set(), {10: 1}, {10: 1}, set()) == []


def test_kinds_are_the_stored_strings() -> None:
    """``story_events.kind`` holds these, and the analyst views (migration 0006) read them."""
    assert list(EventKind) == [
        "created",
        "grew",
        "merged",
        "split",
        "dissolved",
        "dormant",
        "revived",
    ]

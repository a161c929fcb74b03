"""Story lineage: what one clustering run did to each story, as events. Pure.

Events point from the younger or absorbed story to the survivor: a story *merged* into the
one that took its articles; a new story *split* from the one most of its articles left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Set
from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    """What happened to a story; the value is what ``story_events.kind`` stores."""

    CREATED = "created"
    GREW = "grew"
    MERGED = "merged"
    SPLIT = "split"
    DISSOLVED = "dissolved"
    DORMANT = "dormant"
    """Set by ``cluster.mark_dormant`` as time passes, not by a membership change."""
    REVIVED = "revived"


@dataclass(frozen=True, order=True)
class StoryEvent:
    story_id: int
    kind: EventKind
    other_story_id: int | None = None
    """``merged``: the story that absorbed it; ``split``: the story it split from."""


def membership_events(
    before: Mapping[int, int],
    after: Mapping[int, int | None],
    created: Set[int],
    counts_before: Mapping[int, int],
    counts_after: Mapping[int, int],
    dormant_before: Set[int],
) -> list[StoryEvent]:
    """Events of one run from memberships before and after it (article id → story id).

    ``counts_*`` are whole-story article counts (articles outside the window included);
    ``dormant_before`` are the stories that were dormant when the run started.
    """
    events: list[StoryEvent] = []
    for story in sorted(created):
        origins = Counter(
            before[article] for article, now in after.items() if now == story and article in before
        )
        if origins:
            events.append(StoryEvent(story, EventKind.SPLIT, _most_common(origins)))
        else:
            events.append(StoryEvent(story, EventKind.CREATED))
    for story in sorted(set(counts_after) - set(created)):
        count, previous = counts_after[story], counts_before.get(story, 0)
        if count == 0 and previous > 0:
            destinations = Counter(
                after[article]
                for article, was in before.items()
                if was == story and after.get(article) is not None
            )
            if destinations:
                events.append(StoryEvent(story, EventKind.MERGED, _most_common(destinations)))
            else:
                events.append(StoryEvent(story, EventKind.DISSOLVED))
        elif count > previous:
            kind = EventKind.REVIVED if story in dormant_before else EventKind.GREW
            events.append(StoryEvent(story, kind))
    return sorted(events)


def _most_common(counter: Counter[int] | Counter[int | None]) -> int:
    """The most frequent key; the lowest id on a tie, so the result is deterministic."""
    best = max(counter.values())
    return min(key for key, value in counter.items() if value == best and key is not None)

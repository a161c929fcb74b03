"""When a story's event broke, and so which outlet broke it. Pure.

A story gathers articles by similarity, and an older article can join it: a profile of a
suspect, published days before the raid that makes the story. Crediting its outlet with
the raid would be wrong. So the story's event is taken to begin with its first *burst*
that at least two outlets report: a burst is a run of the story's articles, oldest first,
no two consecutive ones more than ``BURST_GAP`` apart. Articles before it are background
that joined the story later; an outlet's first report is its first article from the onset
on, and the outlet that broke the story is the one whose first report is earliest. A story
no burst of which two outlets report (one outlet's, or a string of lone articles) begins
with its first article.

The ``story_sources`` view (migration 0016) computes the same in SQL on both backends;
``serve.queries`` reads it here, for one story at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

BURST_GAP = timedelta(hours=24)
"""The longest silence inside one burst of coverage: a day, as news cycles go. An article
more than a day older than the next one stands apart from what follows it."""
BURST_OUTLETS = 2
"""Outlets that must report a burst for it to be the event's onset: a second outlet
confirms it is news, not one outlet's background piece."""


def onset(members: Sequence[tuple[datetime, str]]) -> datetime | None:
    """When the story's event began, from its articles' (published_at, outlet) in any
    order; None for no article."""
    ordered = sorted(members)
    if not ordered:
        return None
    bursts: list[list[tuple[datetime, str]]] = []
    previous: datetime | None = None
    for published, outlet in ordered:
        if previous is None or published - previous > BURST_GAP:
            bursts.append([])
        bursts[-1].append((published, outlet))
        previous = published
    for burst in bursts:
        if len({outlet for _, outlet in burst}) >= BURST_OUTLETS:
            return burst[0][0]
    return ordered[0][0]

"""Which articles the extract stage reads the page of, and the states an extraction moves
through. Pure.

A new or changed article is ``pending`` when its feed's registry entry says
``full_text: always``, or ``auto`` (the default) and the feed's text is a teaser, shorter
than ``teaser_max_chars``; it needs a link to fetch (http or https). Then the stage moves it
to ``ok`` (the page's body is its text), ``kept`` (the page was read, but the feed's text is
kept: the extractor says why), ``skipped`` (never to be fetched: robots.txt, not HTML, 404,
a redirect to a private address) or, after a transient failure, back to ``pending`` with
an attempt counted and a time before which it is not retried, until the attempts are used
up: ``failed``.
"""

from __future__ import annotations

from enum import StrEnum


class ExtractState(StrEnum):
    PENDING = "pending"
    OK = "ok"
    KEPT = "kept"
    SKIPPED = "skipped"
    FAILED = "failed"


DONE = (ExtractState.OK, ExtractState.KEPT, ExtractState.SKIPPED, ExtractState.FAILED)
"""States a rerun leaves alone."""


def wants_page(full_text: str, url: str | None, feed_text: str, teaser_max_chars: int) -> bool:
    """Whether an article's page should be read for its text."""
    if url is None or not url.lower().startswith(("http://", "https://")):
        return False
    if full_text == "always":
        return True
    return full_text == "auto" and len(feed_text.strip()) < teaser_max_chars


def initial_state(
    full_text: str, url: str | None, feed_text: str, teaser_max_chars: int | None
) -> ExtractState | None:
    """The state a new or changed article starts in: ``pending``, or ``None`` (no page is
    wanted; ``teaser_max_chars`` ``None``: pages are never read, as in a replay without
    pages)."""
    if teaser_max_chars is None:
        return None
    return ExtractState.PENDING if wants_page(full_text, url, feed_text, teaser_max_chars) else None

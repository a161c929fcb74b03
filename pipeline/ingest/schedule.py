"""When to fetch a feed next. Pure: times and counts in, times out."""

from __future__ import annotations

import hashlib
import itertools
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from pipeline.settings import Settings

RECENT_ENTRIES = 20
"""How many of the newest entries estimate a feed's publishing rate."""


def publishing_interval(times: Sequence[datetime]) -> float | None:
    """Median seconds between a feed's consecutive entries, or ``None`` with fewer than two."""
    newest = sorted(set(times), reverse=True)[:RECENT_ENTRIES]
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(newest)]
    return statistics.median(gaps) if gaps else None


def next_check(now: datetime, interval_seconds: float | None, settings: Settings) -> datetime:
    """The next check of a healthy feed: about twice per publishing interval, clamped.

    Checking at half the typical gap between entries catches most new entries within one
    gap without polling a quiet feed every few minutes (Miniflux and NewsBlur do alike).
    """
    minimum = settings.check_interval_min_minutes * 60
    maximum = max(minimum, settings.check_interval_max_minutes * 60)
    wanted = (
        settings.check_interval_default_minutes * 60
        if interval_seconds is None
        else interval_seconds / 2
    )
    return now + timedelta(seconds=min(max(wanted, minimum), maximum))


def backoff(now: datetime, failures: int, key: str, settings: Settings) -> datetime:
    """The next try after ``failures`` consecutive failures: exponential, capped, jittered.

    The jitter (-20 % to +20 %) is derived from ``key`` and ``failures`` rather than a random
    source, so feeds that failed together spread out, and a rerun computes the same time.
    """
    base = settings.error_backoff_base_minutes * 60
    delay = min(base * 2 ** max(failures - 1, 0), settings.error_backoff_max_minutes * 60)
    digest = hashlib.sha256(f"{key}:{failures}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return now + timedelta(seconds=delay * (0.8 + 0.4 * fraction))


def parse_retry_after(value: str | None, now: datetime, settings: Settings) -> datetime | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as a time, capped; ``None`` if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    cap = now + timedelta(hours=settings.retry_after_max_hours)
    if value.isdigit():
        return min(now + timedelta(seconds=int(value)), cap)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(max(moment.astimezone(UTC), now), cap)

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
    """The next try after ``failures`` consecutive failures: exponential, capped, jittered."""
    base = settings.error_backoff_base_minutes * 60
    return now + jittered_delay(failures, key, base, settings.error_backoff_max_minutes * 60)


def jittered_delay(
    failures: int, key: str, base_seconds: float, max_seconds: float | None = None
) -> timedelta:
    """``base_seconds * 2 ** (failures - 1)``, capped at ``max_seconds``, jittered by ±20 %.

    The jitter is derived from ``key`` and ``failures`` rather than a random source, so
    things that failed together spread out, and a rerun computes the same time.
    """
    delay = base_seconds * 2 ** min(max(failures - 1, 0), 64)  # 2**1024 is no float
    if max_seconds is not None:
        delay = min(delay, max_seconds)
    digest = hashlib.sha256(f"{key}:{failures}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64  # uniform in [0, 1)
    return timedelta(seconds=delay * (0.8 + 0.4 * fraction))


def parse_retry_after(value: str | None, now: datetime, settings: Settings) -> datetime | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as a time, capped; ``None`` if absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Capped before it becomes a date: 10^12 seconds is past the year 9999.
        seconds = min(float(value), settings.retry_after_max_hours * 3600)
        return cap_retry_after(now + timedelta(seconds=seconds), now, settings)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return cap_retry_after(moment.astimezone(UTC), now, settings)


def cap_retry_after(moment: datetime, now: datetime, settings: Settings) -> datetime:
    """A server's "not before" time, no earlier than ``now`` and at most
    ``retry_after_max_hours`` after it (against absurd values)."""
    return min(max(moment, now), now + timedelta(hours=settings.retry_after_max_hours))

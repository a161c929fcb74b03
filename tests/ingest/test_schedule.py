from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.ingest.schedule import backoff, next_check, parse_retry_after, publishing_interval
from pipeline.settings import Settings

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SETTINGS = Settings.load()


@pytest.mark.parametrize(
    ("gaps_minutes", "expected"),
    [
        ([], None),
        ([0], None),
        ([30, 30, 30], 1800.0),
        ([10, 20, 600], 1200.0),
    ],
    ids=["no-entries", "one-entry", "steady", "median-not-mean"],
)
def test_publishing_interval(gaps_minutes: list[int], expected: float | None) -> None:
    times = [NOW]
    for gap in gaps_minutes:
        times.append(times[-1] - timedelta(minutes=gap))
    if gaps_minutes == [0]:
        times = [NOW]
    assert publishing_interval(times) == expected


@pytest.mark.parametrize(
    ("interval", "expected_minutes"),
    [
        (None, 60),
        (3600 * 4, 120),
        (60, 10),
        (3600 * 24 * 30, 24 * 60),
    ],
    ids=["unknown-rate", "half-the-gap", "clamped-to-minimum", "clamped-to-maximum"],
)
def test_next_check(interval: float | None, expected_minutes: float) -> None:
    assert next_check(NOW, interval, SETTINGS) == NOW + timedelta(minutes=expected_minutes)


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap() -> None:
    delays = [
        (backoff(NOW, n, "feed-1", SETTINGS) - NOW).total_seconds() / 60 for n in range(1, 10)
    ]
    for failures, delay in enumerate(delays, start=1):
        nominal = min(15 * 2 ** (failures - 1), 24 * 60)
        assert 0.8 * nominal <= delay <= 1.2 * nominal
    assert delays[1] > delays[0]
    assert backoff(NOW, 3, "feed-1", SETTINGS) == backoff(NOW, 3, "feed-1", SETTINGS)
    assert backoff(NOW, 3, "feed-1", SETTINGS) != backoff(NOW, 3, "feed-2", SETTINGS)
    assert backoff(NOW, 5000, "feed-1", SETTINGS) - NOW <= timedelta(days=1.2)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        ("Sun, 01 Mar 2026 13:00:00 GMT", NOW + timedelta(hours=1)),
        ("Sun, 01 Mar 2026 11:00:00 GMT", NOW),
        ("99999999", NOW + timedelta(days=7)),
        ("1" + "0" * 12, NOW + timedelta(days=7)),
        ("9" * 5000, NOW + timedelta(days=7)),
        ("\u00b2", None),
        ("soon", None),
        (None, None),
    ],
    ids=[
        "seconds",
        "http-date",
        "date-in-the-past",
        "capped",
        "past-the-year-9999",
        "more-digits-than-int-reads",
        "unicode-digit",
        "garbage",
        "absent",
    ],
)
def test_parse_retry_after(header: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(header, NOW, SETTINGS) == expected

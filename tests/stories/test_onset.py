from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.stories.onset import BURST_GAP, onset

T = datetime(2015, 11, 18, 4, 30, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        ([], None),
        ([(T, "A")], T),
        ([(T, "A"), (T + H, "B")], T),
        # a profile of the suspect two days before the raid that two outlets report
        ([(T - 48 * H, "A"), (T, "B"), (T + H, "C"), (T + 2 * H, "A")], T),
        # the same older article, within a day of the raid: one burst, which it opens
        ([(T - 20 * H, "A"), (T, "B"), (T + H, "C")], T - 20 * H),
        # exactly the gap apart is still one burst; a microsecond more is not
        ([(T - BURST_GAP, "A"), (T, "B")], T - BURST_GAP),
        ([(T - BURST_GAP - timedelta(microseconds=1), "A"), (T, "B"), (T + H, "C")], T),
        # one outlet's lone bursts only: the first article
        ([(T - 72 * H, "A"), (T, "A"), (T + H, "A")], T - 72 * H),
        # the first burst two outlets report, not the largest
        (
            [(T - 96 * H, "A"), (T - 95 * H, "B"), (T, "A"), (T + H, "B"), (T + 2 * H, "C")],
            T - 96 * H,
        ),
        # in any order
        ([(T + H, "C"), (T - 48 * H, "A"), (T, "B")], T),
    ],
    ids=[
        "no-article",
        "one-article",
        "one-burst",
        "older-background",
        "background-within-a-day",
        "gap-edge-inside",
        "gap-edge-outside",
        "one-outlet",
        "first-corroborated-burst",
        "unordered",
    ],
)
def test_onset(members: list[tuple[datetime, str]], expected: datetime | None) -> None:
    assert onset(members) == expected

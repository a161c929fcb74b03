"""Settings are validated at load to finite, sensible ranges, with one sentence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.errors import ConfigError
from pipeline.settings import MAX_DAYS, Settings

NUMERIC = sorted(
    name
    for name, field in Settings.model_fields.items()
    if field.annotation in (int, float, float | None)
)


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e308", "1" + "0" * 40])
def test_no_numeric_setting_takes_an_absurd_value(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"STORYLINE_{name.upper()}", value)
    with pytest.raises(ConfigError, match=f"STORYLINE_{name.upper()}: ") as refused:
        Settings.load()
    assert "\n" not in str(refused.value)


def test_the_largest_durations_still_give_dates() -> None:
    now = datetime(2015, 11, 18, tzinfo=UTC)
    settings = Settings.load(
        window_hours=MAX_DAYS * 24, dormant_after_hours=MAX_DAYS * 24, retention_days=MAX_DAYS
    )
    assert now - timedelta(hours=settings.window_hours) * 2 > datetime.min.replace(tzinfo=UTC)
    assert now - timedelta(days=MAX_DAYS) > datetime(1900, 1, 1, tzinfo=UTC) - timedelta(
        days=2 * MAX_DAYS
    )


@pytest.mark.parametrize("level", ["debug", " Info ", "WARNING", "error"])
def test_log_levels_in_any_case(level: str) -> None:
    assert Settings.load(log_level=level).log_level == level.strip().upper()


def test_a_log_level_that_is_not_one_is_one_sentence() -> None:
    with pytest.raises(ConfigError, match="STORYLINE_LOG_LEVEL: Input should be 'DEBUG'"):
        Settings.load(log_level="LOUD")

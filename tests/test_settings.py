"""Settings are validated at load to finite, sensible ranges, with one sentence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.errors import ConfigError
from pipeline.settings import (
    GROUP_OF,
    MAX_DAYS,
    NOT_SETTINGS,
    TABLE_START,
    ClusteringSettings,
    Settings,
    env_name,
    markdown_table,
    setting_fields,
    shown_default,
    unknown_variables,
    with_table,
)
from pipeline.settings import main as settings_main
from tests.test_cli import one_sentence

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_DOC = ROOT / "docs" / "SETTINGS.md"

NUMERIC = sorted(
    name
    for name, field in setting_fields().items()
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


# --- unknown STORYLINE_* variables --------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "nearest"),
    [
        ("STORYLINE_ATTACH_HORIZON_DAYS", "STORYLINE_ATTACH_SIMILARITY"),
        ("STORYLINE_WINDOW_HOUR", "STORYLINE_WINDOW_HOURS"),
        ("STORYLINE_DATABASE_URL_FILE", "STORYLINE_DATABASE_URL"),
        ("storyline_loglevel", "STORYLINE_LOG_LEVEL"),
        ("STORYLINE_TEST_PG_URI", "STORYLINE_TEST_PG_URL"),
    ],
    ids=["a-removed-setting", "a-typo", "the-docker-FILE-convention", "lower-case", "a-test-one"],
)
def test_an_unknown_variable_is_refused_with_the_nearest_name(
    variable: str, nearest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "365")
    with pytest.raises(ConfigError) as refused:
        Settings.load()
    assert str(refused.value) == (
        f"unknown setting {variable} (from the environment); did you mean {nearest}? "
        "See docs/SETTINGS.md"
    )


@pytest.mark.parametrize("variable", ["STORYLINE_XYZZY", "STORYLINE_", "STORYLINE_QQQ_ZZZ_WWW"])
def test_a_far_off_name_is_refused_without_a_suggestion(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "1")
    with pytest.raises(ConfigError) as refused:
        Settings.load()
    message = str(refused.value)
    assert message.startswith(f"unknown setting {variable} (from the environment)")
    assert "did you mean" not in message
    assert "no setting has a similar name" in message


def test_every_unknown_variable_is_named_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_WINDOW_HOUR", "5")
    monkeypatch.setenv("STORYLINE_XYZZY", "1")
    with pytest.raises(ConfigError) as refused:
        Settings.load(window_hours=5)
    assert str(refused.value) == (
        "unknown settings in the environment: STORYLINE_WINDOW_HOUR (did you mean "
        "STORYLINE_WINDOW_HOURS?) and STORYLINE_XYZZY (no similar name); "
        "see docs/SETTINGS.md"
    )


@pytest.mark.parametrize("variable", sorted(NOT_SETTINGS))
def test_the_variables_that_are_not_settings_pass(
    variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "x")
    Settings.load()


def test_fields_pass_in_any_case_and_other_prefixes_are_not_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("storyline_window_hours", "5")
    # Airflow's connection variable ends in STORYLINE_DB: not a STORYLINE_* variable.
    monkeypatch.setenv("AIRFLOW_CONN_STORYLINE_DB", "sqlite:////tmp/x.db")
    assert Settings.load().window_hours == 5


def test_unknown_variables_ignores_a_clean_environment() -> None:
    environ = {env_name(name): "1" for name in setting_fields()} | dict.fromkeys(NOT_SETTINGS, "x")
    assert unknown_variables({**environ, "PATH": "/bin", "XSTORYLINE_FOO": "1"}) == []


def test_an_unknown_keyword_override_is_a_bug() -> None:
    with pytest.raises(TypeError, match="window_hour"):
        Settings.load(window_hour=5)
    with pytest.raises(TypeError, match="_env_file"):
        Settings.load(_env_file=".env")


def test_the_cli_refuses_an_unknown_variable_in_one_sentence(tmp_path: Path) -> None:
    result = CliRunner(env={"STORYLINE_WINDOW_HOUR": "5"}).invoke(
        cli, ["stories", "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    line = one_sentence(result)
    assert line == (
        "storyline: error: unknown setting STORYLINE_WINDOW_HOUR (from the environment); "
        "did you mean STORYLINE_WINDOW_HOURS? See docs/SETTINGS.md"
    )


# --- the settings table of docs/SETTINGS.md ------------------------------------------------


def test_the_settings_table_is_generated_from_the_fields() -> None:
    document = SETTINGS_DOC.read_text(encoding="utf-8")
    assert with_table(document) == document, (
        "docs/SETTINGS.md's settings table differs from pipeline/settings.py; regenerate it "
        "with `.venv/bin/python -m pipeline.settings docs/SETTINGS.md`"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("| `STORYLINE_WINDOW_HOURS` | `72` |", "| `STORYLINE_WINDOW_HOURS` | `48` |"),
        ("| `STORYLINE_LOG_LEVEL` |", "| `STORYLINE_LOG_LEVELS` |"),
        ("| variable | default | meaning |\n", "| variable | default | meaning |\n| x | y | z |\n"),
    ],
    ids=["a-changed-default", "a-renamed-variable", "an-extra-row"],
)
def test_a_table_that_drifted_is_rewritten(old: str, new: str) -> None:
    document = SETTINGS_DOC.read_text(encoding="utf-8")
    assert old in document
    drifted = document.replace(old, new)
    assert with_table(drifted) != drifted
    assert with_table(drifted) == with_table(document)


def test_the_settings_are_in_one_table_only() -> None:
    # The README links to docs/SETTINGS.md rather than carrying a second copy.
    assert TABLE_START not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_rewriting_a_file_without_the_table_is_one_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.md"
    plain.write_text("# no table here\n", encoding="utf-8")
    with pytest.raises(SystemExit) as refused:
        settings_main([str(plain)])
    assert refused.value.code == 2
    assert f"{plain}: no " in capsys.readouterr().err
    assert plain.read_text(encoding="utf-8") == "# no table here\n"


def test_the_table_has_one_row_per_field_and_nothing_else() -> None:
    rows = markdown_table().splitlines()[2:]
    assert [row.split(" | ")[0] for row in rows] == [
        f"| `{env_name(name)}`" for name in setting_fields()
    ]
    assert all(setting_fields()[name].description for name in setting_fields())


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("window_hours", "`72`"),
        ("link_distance", "`0.6`"),
        ("fetch_max_bytes", "`5000000`"),
        ("hf_offline", "`true`"),
        ("fetch_allow_private_redirects", "`false`"),
        ("retention_days", "unset"),
        ("model_cache_dir", "`~/.cache/storyline`"),
        ("log_level", "`WARNING`"),
        ("page_ignore_robots_hosts", "empty"),
    ],
    ids=[
        "float-as-int",
        "float",
        "int",
        "true",
        "false",
        "none",
        "factory",
        "literal",
        "empty-list",
    ],
)
def test_defaults_show_as_a_user_would_type_them(
    name: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/machine/specific")  # never in the table
    assert shown_default(name) == shown


def test_a_grouped_setting_has_a_flat_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_LINK_DISTANCE", "0.7")
    monkeypatch.setenv("STORYLINE_CLUSTER_ALGORITHM", "hdbscan")
    clustering = Settings.load().clustering
    assert (clustering.link_distance, clustering.cluster_algorithm) == (0.7, "hdbscan")
    assert clustering.max_component == ClusteringSettings().max_component


def test_a_keyword_wins_over_the_environment_in_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_LINK_DISTANCE", "0.7")
    monkeypatch.setenv("STORYLINE_MAX_COMPONENT", "300")
    clustering = Settings.load(link_distance=0.5).clustering
    assert (clustering.link_distance, clustering.max_component) == (0.5, 300)


@pytest.mark.parametrize(
    "name",
    [
        "max_cluster_distance",
        "name_link_similarity",
        "event_split_ratio",
        "headline_merge_similarity",
        "attach_similarity",
        "story_match_word_similarity",
    ],
)
def test_none_switches_a_pass_off(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"STORYLINE_{name.upper()}", " None ")
    settings = Settings.load()
    assert getattr(settings.clustering if name in GROUP_OF else settings, name) is None


def test_a_setting_that_cannot_be_off_refuses_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_LINK_DISTANCE", "none")
    with pytest.raises(ConfigError, match="STORYLINE_LINK_DISTANCE: ") as refused:
        Settings.load()
    assert "\n" not in str(refused.value)


def test_a_group_is_not_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The group's fields are the settings; the group as JSON would be a second way in."""
    monkeypatch.setenv("STORYLINE_CLUSTERING", '{"link_distance": 0.9}')
    with pytest.raises(ConfigError, match="unknown setting STORYLINE_CLUSTERING"):
        Settings.load()

"""The command-line contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pipeline.cli import cli
from pipeline.db import make_engine

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
QUAKE = [
    (
        "Strong earthquake shakes northern Chile, buildings damaged in Iquique",
        "A magnitude 7.1 earthquake struck off northern Chile, damaging buildings in Iquique.",
    ),
    (
        "Chile quake: Iquique residents sleep outdoors after magnitude 7.1 tremor",
        "Thousands in Iquique spent the night outside after a powerful earthquake hit Chile.",
    ),
    (
        "Rescuers search rubble in Iquique after Chilean earthquake",
        "Emergency teams in northern Chile searched damaged homes after the magnitude 7.1 quake.",
    ),
]
OTHER = [
    (
        "Local bakery wins national sourdough prize",
        "A family bakery took first place for its bread.",
    ),
    (
        "City council approves new cycle lanes downtown",
        "Councillors voted for protected bike lanes.",
    ),
    ("Chess prodigy, 12, becomes youngest grandmaster", "The boy earned his final norm in Serbia."),
]


def write_feed(path: Path, items: list[tuple[str, str]], outlet: str) -> None:
    entries = "".join(
        f"<item><title>{title}</title><link>https://{outlet}.example/{i}</link>"
        f"<pubDate>{format_datetime(NOW - timedelta(hours=i + 1))}</pubDate>"
        f"<description>{text}</description></item>"
        for i, (title, text) in enumerate(items)
    )
    path.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{outlet}</title>'
        f"{entries}</channel></rss>",
        encoding="utf-8",
    )


@pytest.fixture
def feeds_file(tmp_path: Path) -> Path:
    for index, outlet in enumerate(["alpha", "beta", "gamma"]):
        write_feed(tmp_path / f"{outlet}.xml", [QUAKE[index], OTHER[index]], outlet)
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "feeds:\n"
        + "".join(
            f"  - {{name: {o}, url: {o}.xml, outlet: {o.title()}}}\n"
            for o in ["alpha", "beta", "gamma"]
        ),
        encoding="utf-8",
    )
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def test_each_stage_command(db_url: str, feeds_file: Path) -> None:
    assert "revision" in ok("init", "--db", db_url).stdout
    ok("init", "--db", db_url)
    assert "3 added" in ok("feeds", "sync", str(feeds_file), "--db", db_url).stderr
    assert (
        "0 added, 0 updated, 3 unchanged"
        in ok("feeds", "sync", str(feeds_file), "--db", db_url).stderr
    )
    assert "6 new articles" in ok("ingest", "--db", db_url).stderr
    assert "0 feeds checked" in ok("ingest", "--db", db_url).stderr
    forced = ok("ingest", "--force", "--db", db_url).stderr
    assert "3 feeds checked" in forced
    assert "0 new articles" in forced
    feeds = json.loads(ok("feeds", "list", "--format", "json", "--db", db_url).stdout)
    assert [(f["name"], f["status"], f["article_count"]) for f in feeds] == [
        ("alpha", "active", 2),
        ("beta", "active", 2),
        ("gamma", "active", 2),
    ]
    for feed in feeds:
        assert {
            "url",
            "error_count",
            "last_error",
            "last_success_at",
            "next_check_at",
        } <= feed.keys()
        assert feed["next_check_at"] > feed["last_success_at"]
    assert "alpha" in ok("feeds", "list", "--db", db_url).stdout
    assert "embed: 6 new" in ok("embed", "--db", db_url).stderr
    assert "embed: 0 new" in ok("embed", "--db", db_url).stderr
    clustered = ok("cluster", "--now", NOW.isoformat(), "--db", db_url).stderr
    assert "6 articles" in clustered
    assert "nothing to do" in ok("cluster", "--now", NOW.isoformat(), "--db", db_url).stderr

    stories = json.loads(ok("stories", "--format", "json", "--db", db_url).stdout)
    quake = [s for s in stories if "Iquique" in s["title"] or "Chile" in s["title"]]
    assert len(quake) == 1
    assert (quake[0]["article_count"], quake[0]["source_count"]) == (3, 3)
    table = ok("stories", "--db", db_url).stdout
    assert quake[0]["title"][:40] in table


def test_run_does_everything(db_url: str, feeds_file: Path) -> None:
    ok("run", "--feeds", str(feeds_file), "--now", NOW.isoformat(), "--db", db_url)
    stories = json.loads(ok("stories", "--format", "json", "--db", db_url).stdout)
    assert [s["source_count"] for s in stories] == [3]


def test_database_url_from_the_environment(db_url: str, feeds_file: Path) -> None:
    result = CliRunner(env={"STORYLINE_DATABASE_URL": db_url}).invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    assert "revision" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stories", "--db", "postgresql://nobody@127.0.0.1:1/none"], "cannot connect to database"),
        (["stories", "--db", "oracle://x/y"], "cannot use database URL"),
        (["cluster", "--now", "yesterday"], "is not an ISO 8601 time"),
        (["feeds", "sync", "missing.yaml"], "cannot read feeds file"),
    ],
    ids=["unreachable-db", "unsupported-db", "bad-now", "missing-feeds-file"],
)
def test_errors_are_one_sentence(
    args: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ok("init", "--db", f"sqlite:///{tmp_path / 'ok.db'}")
    if "--db" not in args:
        args = [*args, "--db", f"sqlite:///{tmp_path / 'ok.db'}"]
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith("storyline: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_uninitialised_database_says_run_init(db_url: str, tmp_path: Path) -> None:
    missing = invoke("ingest", "--db", f"sqlite:///{tmp_path / 'new.db'}")
    assert missing.exit_code == 1
    assert "does not exist; run `storyline init` first" in missing.stderr
    assert not (tmp_path / "new.db").exists()
    engine = make_engine(db_url)
    engine.connect().close()  # an empty database (on SQLite: an empty file)
    engine.dispose()
    empty = invoke("stories", "--db", db_url)
    assert empty.exit_code == 1
    assert "has no Storyline schema; run `storyline init` first" in empty.stderr


def test_bad_setting_is_one_sentence(tmp_path: Path) -> None:
    result = CliRunner(env={"STORYLINE_WINDOW_HOURS": "-3"}).invoke(
        cli, ["stories", "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    )
    assert result.exit_code == 1
    assert "STORYLINE_WINDOW_HOURS" in result.stderr


def test_module_entry_point_and_console_script(tmp_path: Path) -> None:
    env = {**os.environ, "STORYLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}"}
    module = subprocess.run(
        [sys.executable, "-m", "pipeline", "init"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert module.returncode == 0, module.stderr
    script = Path(sys.executable).parent / "storyline"
    listed = subprocess.run(
        [str(script), "stories"], capture_output=True, text=True, env=env, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no stories yet"


def test_an_outage_exits_3_and_a_partial_failure_0(db_url: str, feeds_file: Path) -> None:
    ok("init", "--db", db_url)
    ok("feeds", "sync", str(feeds_file), "--db", db_url)
    (feeds_file.parent / "alpha.xml").unlink()
    partial = ok("ingest", "--db", db_url)  # beta and gamma stored: exit 0, alpha named
    assert "4 new articles" in partial.stderr
    assert "feed 'alpha' failed" in partial.stderr
    assert "storyline: error" not in partial.stderr

    for outlet in ("beta", "gamma"):
        (feeds_file.parent / f"{outlet}.xml").unlink()
    outage = invoke("ingest", "--force", "--db", db_url)
    assert outage.exit_code == 3, outage.output
    (error,) = [line for line in outage.stderr.splitlines() if line.startswith("storyline:")]
    assert error.startswith("storyline: error: none of the 3 due feeds could be fetched (")
    for outlet in ("alpha", "beta", "gamma"):
        assert f"{outlet}: " in error
    assert "Traceback" not in outage.output


def test_run_in_an_outage_still_embeds_and_clusters_then_exits_3(
    db_url: str, feeds_file: Path
) -> None:
    ok("init", "--db", db_url)
    ok("feeds", "sync", str(feeds_file), "--db", db_url)
    ok("ingest", "--db", db_url)
    for outlet in ("alpha", "beta", "gamma"):
        (feeds_file.parent / f"{outlet}.xml").unlink()
    # the stored articles are embedded and clustered, then the outage is reported
    run = invoke("run", "--now", NOW.isoformat(), "--db", db_url, "--force")
    assert run.exit_code == 3, run.output
    assert "embed: 6 new" in run.stderr
    assert "cluster: 6 articles" in run.stderr
    assert run.stderr.rstrip().splitlines()[-1].startswith("storyline: error: none of the 3")


def test_no_feed_due_is_no_outage(db_url: str, feeds_file: Path) -> None:
    ok("run", "--feeds", str(feeds_file), "--now", NOW.isoformat(), "--db", db_url)
    for outlet in ("alpha", "beta", "gamma"):
        (feeds_file.parent / f"{outlet}.xml").unlink()
    assert "0 feeds checked" in ok("ingest", "--db", db_url).stderr  # nothing was due

"""The command-line contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient
from sqlalchemy import Engine, make_url, text

from pipeline.cli import cli
from pipeline.db import (
    Timeouts,
    alembic_config,
    connect_args,
    display_url,
    make_engine,
    normalise_url,
)
from pipeline.serve.api import create_app
from pipeline.settings import CONNECT_TIMEOUT_SECONDS, Settings
from tests.conftest import create_pg_database, drop_pg_database
from tests.factories import add_article_rows
from tests.freezing_proxy import FreezingProxy

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
            # Fictional outlets: no page to read (pages: tests/extract).
            f"  - {{name: {o}, url: {o}.xml, outlet: {o.title()}, full_text: never}}\n"
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
    assert [(f["name"], f["status"], f["articles"]) for f in feeds] == [
        ("alpha", "active", 2),
        ("beta", "active", 2),
        ("gamma", "active", 2),
    ]
    for feed in feeds:
        assert {
            "url",
            "errors_in_a_row",
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
    assert (quake[0]["articles"], quake[0]["outlets"]) == (3, 3)
    # the API's summary (pipeline.serve.schema.Summary); the old names are gone
    assert list(quake[0]) == [
        "id",
        "title",
        "keywords",
        "status",
        "articles",
        "outlets",
        "first_seen",
        "last_seen",
        "articles_last_24h",
        "lead",
        "entities",
    ]
    table = ok("stories", "--db", db_url).stdout
    assert quake[0]["title"][:40] in table
    assert "last 24 h" in table.splitlines()[0]


def test_run_does_everything(db_url: str, feeds_file: Path) -> None:
    ok("run", "--feeds", str(feeds_file), "--now", NOW.isoformat(), "--db", db_url)
    stories = json.loads(ok("stories", "--format", "json", "--db", db_url).stdout)
    assert [s["outlets"] for s in stories] == [3]


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


def one_sentence(result: Result, status: int = 1) -> str:
    """The command failed with exactly one line on stderr, no traceback; that line."""
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("storyline: error: ")
    return line


def corrupt_pages(path: Path) -> None:
    """Keep SQLite's header page, overwrite every page after it."""
    size = path.stat().st_size
    with path.open("r+b") as file:
        file.seek(4096)
        file.write(b"\x07" * (size - 4096))


@pytest.mark.parametrize(
    ("setup", "args", "env", "message"),
    [
        (
            lambda d: (d / "latin1.yaml").write_bytes(b"feeds:\n  - name: caf\xe9\n    url: x\n"),
            ["feeds", "sync", "latin1.yaml"],
            {},
            "feeds file latin1.yaml is not UTF-8 text (byte 0xe9 at offset 20); save it as UTF-8",
        ),
        (
            lambda d: (d / "ok.db").write_bytes(b"these are not the pages of a database" * 200),
            ["stories"],
            {},
            "is not a SQLite database or is damaged (file is not a database)",
        ),
        (
            lambda d: corrupt_pages(d / "ok.db"),
            ["feeds", "list"],
            {},
            "is not a SQLite database or is damaged (database disk image is malformed)",
        ),
        (
            None,
            ["cluster"],
            {"STORYLINE_WINDOW_HOURS": "inf"},
            "WINDOW_HOURS: Input should be a finite number",
        ),
        (
            None,
            ["cluster"],
            {"STORYLINE_WINDOW_HOURS": "nan"},
            "WINDOW_HOURS: Input should be a finite number",
        ),
        (
            None,
            ["ingest"],
            {"STORYLINE_ERROR_BACKOFF_MAX_MINUTES": "1e308"},
            "ERROR_BACKOFF_MAX_MINUTES: Input should be less than or equal to",
        ),
        (None, ["stories"], {"STORYLINE_EMBED_BATCH_SIZE": "1" + "0" * 30}, "EMBED_BATCH_SIZE"),
        (None, ["stories"], {"STORYLINE_LOG_LEVEL": "LOUD"}, "LOG_LEVEL: Input should be 'DEBUG'"),
        (None, ["cluster", "--now", "9999-12-31T23:59:59-12:00"], {}, "is outside the years 1900"),
        (None, ["cluster", "--now", "0001-01-01T00:00:00"], {}, "is outside the years 1900"),
        (None, ["run", "--now", "9999-12-31T23:59:59-12:00"], {}, "is outside the years 1900"),
    ],
    ids=[
        "feeds-not-utf8",
        "sqlite-not-a-database",
        "sqlite-corrupt-pages",
        "setting-inf",
        "setting-nan",
        "setting-1e308",
        "setting-huge-int",
        "log-level",
        "now-past-the-calendar",
        "now-before-1900",
        "run-now-past-the-calendar",
    ],
)
def test_what_a_user_can_cause_is_one_sentence(
    setup: Callable[[Path], object] | None,
    args: list[str],
    env: dict[str, str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'ok.db'}"
    ok("init", "--db", db)
    ok("feeds", "sync", str(Path(__file__).parent.parent / "feeds.example.yaml"), "--db", db)
    if setup is not None:
        setup(tmp_path)
    result = CliRunner(env=env).invoke(cli, [*args, "--db", db])
    assert message in one_sentence(result)


def test_a_lower_case_log_level_is_accepted(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ok.db'}"
    result = CliRunner(env={"STORYLINE_LOG_LEVEL": "info"}).invoke(cli, ["init", "--db", db])
    assert result.exit_code == 0, result.output


def test_an_unexpected_error_is_one_line_naming_its_saved_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.serve.queries

    def broken(*_args: object) -> None:
        raise RuntimeError("a bug in the stories query")

    db = f"sqlite:///{tmp_path / 'ok.db'}"
    ok("init", "--db", db)
    monkeypatch.setattr(pipeline.serve.queries, "list_stories", broken)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    line = one_sentence(invoke("stories", "--db", db), status=2)
    assert line.startswith(
        "storyline: error: unexpected RuntimeError (a bug in the stories query); "
        f"the traceback is in {tmp_path / 'cache' / 'storyline' / 'tracebacks'}/traceback-"
    )
    assert line.endswith(".txt; rerun with -v to print it, and please report it")
    (saved,) = (tmp_path / "cache" / "storyline" / "tracebacks").iterdir()
    assert str(saved) in line
    trace = saved.read_text()
    assert "Traceback (most recent call last)" in trace
    assert 'raise RuntimeError("a bug in the stories query")' in trace

    verbose = invoke("-v", "stories", "--db", db)
    assert verbose.exit_code == 2
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("storyline: error: unexpected RuntimeError")


def test_ctrl_c_is_one_sentence_and_exit_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.serve.queries

    def interrupted(*_args: object) -> None:
        raise KeyboardInterrupt

    db = f"sqlite:///{tmp_path / 'ok.db'}"
    ok("init", "--db", db)
    monkeypatch.setattr(pipeline.serve.queries, "list_stories", interrupted)
    assert "interrupted" in one_sentence(invoke("stories", "--db", db), status=130)


def test_a_port_in_use_is_one_sentence(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        line = one_sentence(invoke("demo-feeds", "--port", port))
    assert f"on 127.0.0.1:{port} (Address already in use); pick another port" in line


def test_cluster_with_a_model_that_embedded_nothing_says_so(db_url: str, feeds_file: Path) -> None:
    ok("run", "--feeds", str(feeds_file), "--now", NOW.isoformat(), "--db", db_url)
    other = CliRunner(env={"STORYLINE_MODEL_NAME": "some/other-model"}).invoke(
        cli, ["cluster", "--now", NOW.isoformat(), "--db", db_url]
    )
    line = one_sentence(other)
    assert "none of the 6 articles published in the window has an embedding for model " in line
    assert "'some/other-model'; run `storyline embed` with this model first" in line
    assert "(embedded with: sentence-transformers/all-MiniLM-L6-v2)" in line
    engine = make_engine(db_url)
    with engine.connect() as conn:
        models = conn.exec_driver_sql("SELECT DISTINCT model FROM cluster_runs").scalars().all()
    engine.dispose()
    assert models == ["sentence-transformers/all-MiniLM-L6-v2"]


def test_global_options_go_before_or_after_the_subcommand(tmp_path: Path) -> None:
    before, after = f"sqlite:///{tmp_path / 'before.db'}", f"sqlite:///{tmp_path / 'after.db'}"
    assert "before.db is at revision" in ok("--db", before, "init").stdout
    assert "after.db is at revision" in ok("init", "--db", after).stdout
    # After the subcommand wins: the command names the database it was given last.
    missing = invoke("--db", before, "stories", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert "none.db does not exist" in one_sentence(missing)
    for args in (["-v", "--db", before, "cluster"], ["cluster", "-v", "--db", before]):
        logged = ok(*args, "--now", NOW.isoformat())
        assert "level=info logger=pipeline.stories.stage" in logged.stderr, args


def test_version() -> None:
    from importlib.metadata import version

    assert ok("--version").stdout == f"storyline, version {version('storyline')}\n"


def test_maintenance_for_cron_is_idempotent(db_url: str, feeds_file: Path) -> None:
    ok("run", "--feeds", str(feeds_file), "--now", NOW.isoformat(), "--db", db_url)
    later = (NOW + timedelta(days=40)).isoformat()
    first = CliRunner(env={"STORYLINE_RETENTION_DAYS": "60"}).invoke(
        cli, ["maintenance", "--now", later, "--format", "json", "--db", db_url]
    )
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert len(report["dormant"]) == 1
    assert report["retention"]["stories"] == 0
    assert "1 stories went dormant; deleted 0 stories" in first.stderr
    listed = json.loads(ok("stories", "--format", "json", "--db", db_url).stdout)
    assert [(s["id"], s["status"]) for s in listed] == [(report["dormant"][0], "dormant")]
    assert "dormant" in ok("stories", "--db", db_url).stdout
    assert ok("stories", "--status", "active", "--db", db_url).stdout == "no active stories\n"
    both = ok(
        "stories", "--status", "active", "--status", "dormant", "--format", "json", "--db", db_url
    )
    assert json.loads(both.stdout) == listed

    much_later = (NOW + timedelta(days=90)).isoformat()
    env = {"STORYLINE_RETENTION_DAYS": "60"}
    second = CliRunner(env=env).invoke(cli, ["maintenance", "--now", much_later, "--db", db_url])
    assert second.exit_code == 0, second.output
    assert "0 stories went dormant; deleted 1 stories, 6 articles" in second.stderr
    again = CliRunner(env=env).invoke(cli, ["maintenance", "--now", much_later, "--db", db_url])
    assert (
        "0 stories went dormant; deleted 0 stories, 0 articles and 0 cluster runs" in again.stderr
    )


def test_every_summary_has_a_json_form(db_url: str, feeds_file: Path) -> None:
    def report(*args: str) -> Any:
        result = ok(*args, "--format", "json", "--db", db_url)
        assert result.stderr or args == ("init",), args  # the summary stays on stderr
        return json.loads(result.stdout)

    assert report("init")["revision"]
    assert report("feeds", "sync", str(feeds_file)) == {"added": 3, "updated": 0, "unchanged": 0}
    ingested = report("ingest")
    assert (ingested["feeds"], ingested["new_articles"], ingested["errors"]) == (3, 6, {})
    assert report("extract")["articles"] == 0
    assert report("embed")["embedded"] == 6
    assert report("entities")["articles"] == 6
    clustered = report("cluster", "--now", NOW.isoformat())
    assert (clustered["stories_created"], clustered["skipped"]) == (1, False)
    everything = report("run", "--feeds", str(feeds_file), "--now", NOW.isoformat())
    assert set(everything) == {"feeds", "ingest", "extract", "embed", "entities", "cluster"}
    assert everything["entities"]["articles"] == 0  # read once, not again
    assert everything["cluster"]["skipped"] is True
    assert everything["feeds"]["unchanged"] == 3


def test_articles_prints_what_the_api_serves(engine: Engine, db_url: str) -> None:
    """One query: `storyline articles --format json` is the items of GET /api/articles with
    the same filters, keys, values and order; the table shows each one's first line."""
    rows = add_article_rows(engine)

    def printed(*args: str) -> Any:
        return json.loads(ok("articles", "--format", "json", "--db", db_url, *args).stdout)

    with TestClient(create_app(Settings.load(database_url=db_url))) as client:
        cases: list[tuple[tuple[str, ...], dict[str, str | int]]] = [
            ((), {}),
            (("--story", str(rows.story)), {"story": rows.story}),
            (("--unclustered",), {"unclustered": "true"}),
            (("--q", "ÉMEUTES"), {"q": "émeutes"}),
            (("--limit", "2"), {"limit": 2}),
        ]
        for args, params in cases:
            served = client.get("/api/articles", params=params).json()["items"]
            listed = printed(*args)
            assert listed == served, args
            assert [list(item) for item in listed] == [list(item) for item in served]
    assert [item["id"] for item in printed("--unclustered")] == [rows.loose, rows.tied]

    def table(*args: str) -> list[list[str]]:
        lines = ok("articles", *args, "--db", db_url).stdout.splitlines()
        return [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines]

    listed = table("--limit", "2")
    assert listed[0] == ["id", "published (UTC)", "outlet", "story", "source", "title", "text"]
    # The page's first line after its blank space; the footer says there are more.
    assert listed[2:] == [
        [
            str(rows.page),
            "2015-11-16 04:00",
            "Alpha",
            str(rows.story),
            "page",
            "Quake hits Iquique",
            "A magnitude 8.2 quake struck off Chile.",
        ],
        [
            str(rows.teaser),
            "2015-11-16 03:00",
            "Délta Post",
            str(rows.story),
            "feed",
            "Iquique: aftershocks",
            "Aftershocks shook Iquique.",
        ],
        ["the newest 2 of 5 articles; --limit shows more"],
    ]
    assert table("--unclustered")[2][3:] == ["-", "feed", "Bakery wins prize", "A teaser."]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--story", "987654"), "no articles in story 987654"),
        (("--story", "0"), "no articles in story 0"),
        (("--story", str(2**40)), f"no articles in story {2**40}"),
        (("--unclustered",), "no articles in no story"),
        (("--q", "nothing"), "no articles match"),
        ((), "no articles yet"),
    ],
    ids=["unknown-story", "story-zero", "story-past-int32", "unclustered", "q", "none"],
)
def test_articles_none_is_an_empty_list_and_exit_0(
    engine: Engine, db_url: str, args: tuple[str, ...], said: str
) -> None:
    # As the API's story filter: an unknown id, or one no row can have, lists no articles.
    assert ok("articles", *args, "--db", db_url).stdout == f"{said}\n"
    assert json.loads(ok("articles", *args, "--format", "json", "--db", db_url).stdout) == []


def test_articles_of_a_story_or_in_none_not_both(tmp_path: Path) -> None:
    result = invoke(
        "articles", "--story", "1", "--unclustered", "--db", f"sqlite:///{tmp_path}/x.db"
    )
    assert result.exit_code == 2
    assert "--story and --unclustered exclude each other" in result.stderr


def test_older_or_newer_schema_says_what_to_run(db_url: str) -> None:
    assert invoke("init", "--db", db_url).exit_code == 0
    engine = make_engine(db_url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    older = invoke("stories", "--db", db_url)
    assert older.exit_code == 1
    assert "has schema revision 0012, and this Storyline needs" in older.stderr
    assert "run `storyline init` to upgrade it" in older.stderr
    assert older.stderr.count("\n") == 1
    assert invoke("init", "--db", db_url).exit_code == 0
    assert invoke("stories", "--db", db_url).exit_code == 0
    with engine.begin() as conn:
        conn.execute(text("UPDATE storyline_alembic_version SET version_num = '9999'"))
    engine.dispose()
    newer = invoke("stories", "--db", db_url)
    assert newer.exit_code == 1
    assert "has schema revision 9999, newer than this Storyline's" in newer.stderr


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose server accepts connections and never says a word (a failover, a dead
    NAT mapping)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def test_a_silent_database_server_is_given_up_with_one_sentence(silent_server: int) -> None:
    url = f"postgresql://postgres@127.0.0.1:{silent_server}/storyline?connect_timeout=2"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--db", url, "stories"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"storyline: error: cannot connect to database postgresql+psycopg://postgres@127.0.0.1:"
        f"{silent_server}/storyline?connect_timeout=2 (connection timeout expired); check that "
        "the server is running and the URL (--db or STORYLINE_DATABASE_URL) is right"
    ]


def test_postgresql_connections_time_out_and_keep_alive_unless_the_url_says() -> None:
    assert connect_args("postgresql://postgres@127.0.0.1:5432/x") == {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "tcp_user_timeout": 60_000,
        "options": "-c statement_timeout=300000 -c lock_timeout=30000 "
        "-c idle_in_transaction_session_timeout=600000",
    }
    chosen = connect_args(
        "postgresql://h/x?connect_timeout=30&keepalives_idle=5&options=-c%20lock_timeout%3D0",
        Timeouts(statement_seconds=0.25, idle_in_transaction_seconds=None),
    )
    assert chosen == {
        "keepalives": 1,
        "keepalives_interval": 10,
        "tcp_user_timeout": 60_000,
        "options": "-c statement_timeout=250 -c lock_timeout=0",
    }
    assert connect_args("sqlite:///x.db") == {}
    # the settings' defaults are the engine's
    assert Timeouts.of(Settings.load()) == Timeouts()


PG_TIMEOUT_CASES = {
    "lock": (
        {"STORYLINE_DATABASE_LOCK_TIMEOUT_SECONDS": "1"},
        "did not grant a lock within 1 s (canceling statement due to lock timeout); another "
        "session holds it (a long query, a migration, a stuck process): rerun when it is "
        "done, or raise STORYLINE_DATABASE_LOCK_TIMEOUT_SECONDS",
    ),
    "statement": (
        {
            "STORYLINE_DATABASE_LOCK_TIMEOUT_SECONDS": "none",
            "STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS": "1.5",
        },
        "did not finish a statement within 1.5 s (canceling statement due to statement "
        "timeout); check the server (its load, a lock held for long) and rerun, or raise "
        "STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS",
    ),
}


def storyline(url: str, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The real command line on ``url``, with these settings in its environment; a hang
    fails the test after 30 s."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "--db", url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, **settings},
    )


@pytest.mark.postgres
@pytest.mark.parametrize("case", list(PG_TIMEOUT_CASES))
def test_a_lock_held_elsewhere_is_given_up_with_one_sentence(pg_schema_url: str, case: str) -> None:
    settings, sentence = PG_TIMEOUT_CASES[case]
    holder = make_engine(pg_schema_url)
    try:
        with holder.begin() as conn:
            conn.execute(text("LOCK TABLE stories IN ACCESS EXCLUSIVE MODE"))
            # Before: `storyline stories` waited for the lock for ever.
            result = storyline(pg_schema_url, "stories", **settings)
    finally:
        holder.dispose()
    assert result.returncode == 1
    shown = make_url(pg_schema_url).render_as_string(hide_password=True)
    assert "sekrit" not in shown
    assert result.stderr.splitlines() == [f"storyline: error: database {shown} {sentence}"]


@pytest.mark.postgres
def test_a_database_frozen_mid_run_is_given_up_with_one_sentence(pg_schema_url: str) -> None:
    with FreezingProxy(pg_schema_url) as proxy:
        proxy.freeze_on(b"FROM stories")  # after the connection and the schema check
        # Before: the command waited for ever; the server's timeouts cannot fire on a
        # server that does not run.
        result = storyline(proxy.url, "stories", STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS="1")
    assert result.returncode == 1
    shown = make_url(proxy.url).render_as_string(hide_password=True)
    assert result.stderr.splitlines() == [
        f"storyline: error: database {shown} stopped answering (no answer from the server "
        "within 6 s); check that the server is up, not overloaded and reachable, then "
        "rerun, or raise STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS if it is only slow"
    ]


@pytest.mark.postgres
def test_a_read_only_database_stops_ingest_and_charges_no_feed(
    pg_admin: Engine, feeds_file: Path
) -> None:
    """Our own database refusing every write (made read-only, as a replica promoted the
    wrong way round or a full disk's emergency mode would) is the database's fault: the
    run stops with one sentence, no feed goes into backoff, and a plain rerun catches up."""
    url = create_pg_database(pg_admin, "storyline_cli_readonly")
    database = make_url(url).database
    storyline = [sys.executable, "-m", "pipeline", "--db", url]
    try:
        for step in (["init"], ["feeds", "sync", str(feeds_file)]):
            subprocess.run([*storyline, *step], check=True, capture_output=True, timeout=120)
        with pg_admin.connect() as conn:
            conn.exec_driver_sql(
                f"ALTER DATABASE {database} SET default_transaction_read_only = on"
            )
        stopped = subprocess.run(
            [*storyline, "ingest"], capture_output=True, text=True, timeout=120, check=False
        )
        assert stopped.returncode == 1, stopped.stderr
        assert stopped.stderr.splitlines() == [
            f"storyline: error: database {display_url(normalise_url(url))} failed while storing "
            "feed 'alpha' (cannot execute UPDATE in a read-only transaction); 0 of 3 due feeds "
            "were stored, the others are untouched and still due: make the database writable "
            "again, then rerun"
        ]
        with pg_admin.connect() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {database} RESET default_transaction_read_only")
        rerun = subprocess.run(
            [*storyline, "ingest"], capture_output=True, text=True, timeout=120, check=False
        )
        assert rerun.returncode == 0, rerun.stderr
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                charged = conn.execute(text("SELECT sum(error_count) FROM feeds")).scalar()
                stored = conn.execute(text("SELECT count(*) FROM articles")).scalar()
        finally:
            engine.dispose()
        assert (charged, stored) == (0, 6)
    finally:
        drop_pg_database(pg_admin, url)

"""A stop (SIGTERM, Ctrl-C) ends a long command at a safe point, in one sentence.

The commands run as operators run them: ``python -m pipeline`` in a subprocess, fetching
real feeds over HTTP from ``FeedServer``, signalled with ``kill`` once a log line says
where they are; the database is read afterwards, and a rerun must finish the work.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select

from models import Article, Embedding, Feed
from pipeline.db import make_engine, migrate, session_scope
from pipeline.extract.stage import extract
from pipeline.ingest.feeds import load_feeds_file, sync_feeds
from pipeline.ingest.stage import ingest
from pipeline.locks import STORIES_LOCK, exclusive
from pipeline.settings import Settings
from pipeline.stopping import StopFlag, StoppedError
from tests.factories import add_feeds
from tests.feedserver import FeedServer, Gate

REPO = Path(__file__).resolve().parents[1]
RSS_HEADERS = {"Content-Type": "application/rss+xml"}
FEEDS = 6
FAST = 2
"""The first two feeds answer at once; the others hang until the test lets them go."""


def rss(feed: int) -> bytes:
    items = "".join(
        f"<item><title>Feed {feed} story {n}</title><link>https://news.example/{feed}/{n}</link>"
        f"<guid>https://news.example/{feed}/{n}</guid>"
        "<pubDate>Wed, 18 Nov 2015 08:00:00 GMT</pubDate>"
        f"<description>What happened in place {feed}-{n}.</description></item>"
        for n in range(3)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {feed}</title>'
        f"{items}</channel></rss>"
    ).encode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FeedServer, list[Gate], Path]]:
    """Six feeds on a local server (two fast, four hanging) and a feeds file naming them."""
    gates = [Gate(rss(feed), RSS_HEADERS) for feed in range(FAST, FEEDS)]
    with FeedServer() as server:
        lines = ["feeds:"]
        for feed in range(FEEDS):
            path = f"/feed{feed}.xml"
            if feed < FAST:
                server.route(path, rss(feed), headers=RSS_HEADERS)
            else:
                server.respond(path, gates[feed - FAST])
            lines.append(f"  - {{name: feed{feed}, url: '{server.url(path)}'}}")
        feeds_file = tmp_path / "feeds.yaml"
        feeds_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            yield server, gates, feeds_file
        finally:
            for gate in gates:
                gate.open.set()


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STORYLINE_")}
    if "STORYLINE_MODEL_CACHE_DIR" in os.environ:
        env["STORYLINE_MODEL_CACHE_DIR"] = os.environ["STORYLINE_MODEL_CACHE_DIR"]
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **extra)
    return env


def storyline(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_until(process: subprocess.Popen[str], pattern: str, count: int = 1) -> list[str]:
    """The stderr lines up to the ``count``-th matching ``pattern`` (the process logs with
    ``-v``); fails if the process ends first."""
    assert process.stderr is not None
    lines: list[str] = []
    seen = 0
    for line in process.stderr:
        lines.append(line)
        if re.search(pattern, line):
            seen += 1
            if seen == count:
                return lines
    process.communicate(timeout=60)
    pytest.fail(f"exited {process.returncode} before {pattern!r}:\n{''.join(lines)[-4000:]}")


def finish(process: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str]:
    """Its exit status and the rest of its stderr; fails if it does not end in time."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"still running {timeout} s after the signal:\n{err[-4000:]}")
    return process.returncode, err


def last_line(err: str) -> str:
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


def registered(db_url: str, feeds_file: Path) -> Engine:
    engine = make_engine(db_url)
    migrate(engine)
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(feeds_file), datetime.now(UTC))
    return engine


def stored_feeds(engine: Engine) -> set[str]:
    with session_scope(engine) as session:
        return set(session.scalars(select(Feed.name).where(Feed.last_success_at.is_not(None))))


def article_titles(engine: Engine) -> set[str]:
    with session_scope(engine) as session:
        return set(session.scalars(select(Article.title)))


ALL_TITLES = {f"Feed {feed} story {n}" for feed in range(FEEDS) for n in range(3)}


# -- the CLI, signalled ------------------------------------------------------------------


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["term", "int"])
def test_a_signal_stops_ingest_after_the_feeds_stored_and_a_rerun_finishes(
    db_url: str, served: tuple[FeedServer, list[Gate], Path], stop: signal.Signals
) -> None:
    server, gates, feeds_file = served
    engine = registered(db_url, feeds_file)
    env = cli_env(STORYLINE_FETCH_CONCURRENCY="2")
    process = storyline("ingest", "-v", "--db", db_url, env=env)
    read_until(process, r'msg="feed stored"', count=FAST)  # then it waits on a hanging feed
    process.send_signal(stop)
    status, err = finish(process)  # at once: not after the hanging feeds' deadline

    name = stop.name.removeprefix("SIG")
    assert status == 128 + stop, err
    assert last_line(err) == (
        f"storyline: stopped by signal {name}; {FAST} of {FEEDS} due feeds stored, "
        "a rerun continues"
    )
    assert stored_feeds(engine) == {f"feed{feed}" for feed in range(FAST)}
    assert article_titles(engine) == {t for t in ALL_TITLES if int(t.split()[1]) < FAST}
    # no feed was asked for after the stop but those already in flight (two at a time)
    assert len(server.requests) <= FAST + 2

    for gate in gates:
        gate.open.set()
    rerun = subprocess.run(
        [sys.executable, "-m", "pipeline", "ingest", "--db", db_url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"ingest: {FEEDS - FAST} feeds checked" in rerun.stderr
    assert stored_feeds(engine) == {f"feed{feed}" for feed in range(FEEDS)}
    assert article_titles(engine) == ALL_TITLES
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Article)) == len(ALL_TITLES)
    engine.dispose()


def test_a_cluster_run_waiting_for_another_stops_at_once(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    env = cli_env(STORYLINE_STAGE_LOCK_WAIT_SECONDS="600")
    with exclusive(engine, STORIES_LOCK, wait_seconds=1, what="test"):
        process = storyline("cluster", "-v", "--db", db_url, env=env)
        read_until(process, r'msg="waiting for lock"')
        process.send_signal(signal.SIGTERM)
        status, err = finish(process)
    assert status == 143, err
    assert last_line(err) == (
        "storyline: stopped by signal TERM; another cluster run held the database, none was "
        "begun, a rerun continues"
    )
    engine.dispose()


def test_a_second_signal_stops_at_once(tmp_path: Path) -> None:
    """The first SIGTERM asks maintenance to stop after its step; the step waits for the
    stories lock (held here), so a second stops it at once."""
    db = f"sqlite:///{tmp_path / 'storyline.db'}"
    engine = make_engine(db)
    migrate(engine)
    env = cli_env(STORYLINE_STAGE_LOCK_WAIT_SECONDS="600")
    with exclusive(engine, STORIES_LOCK, wait_seconds=1, what="test"):
        process = storyline("maintenance", "-v", "--db", db, env=env)
        read_until(process, r'msg="waiting for lock"')
        # A signal sent while the same one is pending is lost (they do not queue): send
        # the second until it arrives. The first only asks; the lock is held for good.
        process.send_signal(signal.SIGTERM)
        for _ in range(60):
            try:
                process.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGTERM)
        status, err = finish(process)
    assert status == 143, err
    assert last_line(err) == "storyline: stopped at once by a second signal TERM"
    engine.dispose()


def test_maintenance_stops_between_its_steps(tmp_path: Path) -> None:
    """The first step waits for the stories lock (held here) when SIGTERM comes: it is
    finished once the lock is free, and the next is not begun."""
    db = f"sqlite:///{tmp_path / 'storyline.db'}"
    engine = make_engine(db)
    migrate(engine)
    env = cli_env(STORYLINE_STAGE_LOCK_WAIT_SECONDS="600")
    with exclusive(engine, STORIES_LOCK, wait_seconds=1, what="test"):
        process = storyline("maintenance", "-v", "--db", db, env=env)
        read_until(process, r'msg="waiting for lock"')
        process.send_signal(signal.SIGTERM)
    status, err = finish(process)
    assert status == 143, err
    assert last_line(err) == (
        "storyline: stopped by signal TERM; dormancy finished, a rerun continues"
    )
    assert "maintenance:" not in err  # no summary of steps not taken
    engine.dispose()


TERM_MID_COMMAND = """
import os, signal, sys
import pipeline.serve.queries
from pipeline.cli import main

def terminated(*_args):
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("not interrupted")

pipeline.serve.queries.list_stories = terminated
sys.argv = ["storyline", "stories", "--db", sys.argv[1]]
main()
"""


def test_sigterm_to_a_short_command_interrupts_it_in_one_sentence(tmp_path: Path) -> None:
    """A command that takes no stop flag is interrupted where it is, as by Ctrl-C."""
    db = f"sqlite:///{tmp_path / 'storyline.db'}"
    engine = make_engine(db)
    migrate(engine)
    engine.dispose()
    ran = subprocess.run(
        [sys.executable, "-c", TERM_MID_COMMAND, db],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 143, ran.stderr
    assert last_line(ran.stderr) == (
        "storyline: error: interrupted by signal TERM; a rerun converges to the same state"
    )


def make_articles(engine: Engine, count: int) -> None:
    feed_id = add_feeds(engine, ["Wire"])["Wire"]
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        session.add_all(
            Article(
                feed_id=feed_id,
                guid=f"a{n}",
                url=f"https://wire.example/{n}",
                title=f"Article number {n} on topic {n % 7}",
                summary=f"Something about topic {n % 7}, told for the {n}th time.",
                published_at=now - timedelta(minutes=n),
                published_estimated=False,
                fetched_at=now,
                content_hash=f"hash{n}",
            )
            for n in range(count)
        )


def embedded_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Embedding)) or 0


def test_sigterm_stops_embed_after_the_batch_in_flight(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'storyline.db'}"
    engine = make_engine(db)
    migrate(engine)
    total = 300
    make_articles(engine, total)
    process = storyline("embed", "-v", "--db", db, env=cli_env(STORYLINE_EMBED_BATCH_SIZE="1"))
    read_until(process, r'msg="embed progress"')
    process.send_signal(signal.SIGTERM)
    status, err = finish(process, timeout=60)
    assert status == 143, err
    said = re.fullmatch(
        rf"storyline: stopped by signal TERM; (\d+) of {total} articles embedded, "
        "a rerun continues",
        last_line(err),
    )
    assert said is not None, err
    assert 0 < int(said.group(1)) < total
    assert embedded_count(engine) == int(said.group(1))  # every batch said is stored

    rerun = subprocess.run(
        [sys.executable, "-m", "pipeline", "embed", "--db", db],
        cwd=REPO,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"embed: {total - int(said.group(1))} new" in rerun.stderr
    assert embedded_count(engine) == total
    engine.dispose()


# -- the stages, asked to stop in-process -------------------------------------------------


def test_ingest_asked_to_stop_fetches_no_feed_not_begun(
    engine: Engine, settings: Settings, served: tuple[FeedServer, list[Gate], Path]
) -> None:
    server, _, feeds_file = served
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(feeds_file), datetime.now(UTC))
    stop = StopFlag()

    def stop_after_the_first(done: int, total: int) -> None:
        stop.request(signal.SIGTERM)

    one_at_a_time = settings.model_copy(update={"fetch_concurrency": 1})
    with httpx.Client() as client, pytest.raises(StoppedError) as stopped:
        ingest(engine, one_at_a_time, client=client, progress=stop_after_the_first, stop=stop)
    assert str(stopped.value) == (
        f"stopped by signal TERM; 1 of {FEEDS} due feeds stored, a rerun continues"
    )
    assert stopped.value.exit_status == 143
    assert stored_feeds(engine) == {"feed0"}
    # one feed at a time: feed1 was fetched while feed0 was stored, and the fetch of
    # feed2 hangs; the stop did not wait for it, and fetched nothing after it
    assert {r.path for r in server.requests} <= {"/feed0.xml", "/feed1.xml", "/feed2.xml"}


def test_a_stop_names_the_stages_finished_before() -> None:
    from pipeline.cli import Stages

    stop = StopFlag()
    stages = Stages(stop)
    assert stages.run("ingest", lambda: 1) == 1
    assert stages.run("extract", lambda: 2) == 2

    def embed() -> None:
        stop.request(signal.SIGINT)
        stop.check("64 of 200 articles embedded")

    with pytest.raises(StoppedError) as stopped:
        stages.run("embed", embed)
    assert str(stopped.value) == (
        "stopped by signal INT; ingest and extract finished, 64 of 200 articles embedded, "
        "a rerun continues"
    )
    assert stopped.value.exit_status == 130
    with pytest.raises(StoppedError, match="ingest and extract finished, a rerun"):
        stages.run("cluster", lambda: 3)


def test_extract_asked_to_stop_leaves_the_pages_not_read_pending(
    engine: Engine, settings: Settings
) -> None:
    from pipeline.extract.fetch import Page
    from pipeline.extract.policy import ExtractState
    from tests.extract.test_stage import add_teaser, page, states

    feed = add_feeds(engine, ["Courier"])["Courier"]
    articles = [add_teaser(engine, feed, n) for n in range(1, 5)]
    released = threading.Event()

    class FirstAtOnce:
        """The first page at once; the others hang until the test ends."""

        def page(self, url: str) -> Page:
            if not url.endswith("/1"):
                released.wait(timeout=60)
            return Page(body=page(), content_type="text/html", final_url=url, status=200)

    stop = StopFlag()

    def stop_after_the_first(done: int, total: int) -> None:
        stop.request(signal.SIGTERM)

    inline = settings.model_copy(update={"extract_processes": 0, "fetch_concurrency": 2})
    try:
        with pytest.raises(StoppedError) as stopped:
            extract(engine, inline, pages=FirstAtOnce(), progress=stop_after_the_first, stop=stop)
    finally:
        released.set()
    assert str(stopped.value) == "stopped by signal TERM; 1 of 4 pages read, a rerun continues"
    read = states(engine)
    assert read[articles[0]][0] == ExtractState.OK
    assert [read[a] for a in articles[1:]] == [(ExtractState.PENDING, None, 0)] * 3


def test_a_cluster_run_asked_to_stop_before_its_write_changes_nothing(
    engine: Engine, settings: Settings
) -> None:
    from models import ClusterRun, Story
    from pipeline.stories.stage import cluster
    from tests.factories import T0, add_article, direction, near

    feeds = add_feeds(engine, ["A", "B"])
    for n in range(4):
        add_article(engine, feeds["AB"[n % 2]], f"quake {n}", T0, near(direction(1), n))
    stop = StopFlag()
    stop.request(signal.SIGINT)
    with pytest.raises(StoppedError, match="signal INT; no story was changed, a rerun"):
        cluster(engine, settings, T0 + timedelta(hours=1), stop=stop)
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(ClusterRun)) == 0
        assert session.scalar(select(func.count()).select_from(Story)) == 0
    assert cluster(engine, settings, T0 + timedelta(hours=1)).stories_created == 1

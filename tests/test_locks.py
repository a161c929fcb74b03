"""One cluster run at a time per database, proven with real processes racing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from models import ClusterRun, Story
from pipeline.db import session_scope
from pipeline.locks import STORIES_LOCK, BusyError, advisory_key, exclusive
from pipeline.maintenance import apply_retention, mark_dormant_stories
from pipeline.settings import Settings
from pipeline.stories.stage import cluster
from tests.factories import T0, add_article, add_feeds, direction, near

STORYLINE = str(Path(sys.executable).parent / "storyline")
NOW = T0 + timedelta(hours=6)
HOLDER = """
import sys
from pipeline.db import make_engine
from pipeline.locks import STORIES_LOCK, exclusive
with exclusive(make_engine(sys.argv[1]), STORIES_LOCK, wait_seconds=0, what="holder"):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def seed_two_stories(engine: Engine) -> None:
    feeds = add_feeds(engine, ["Alpha", "Beta", "Gamma"])
    for story in range(2):
        center = direction(100 + story)
        for i, feed_id in enumerate(feeds.values()):
            vector = near(center, seed=10 * story + i)
            add_article(
                engine, feed_id, f"storm {story} by {feed_id}", T0 + timedelta(hours=i), vector
            )


def counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        runs = session.scalar(select(func.count()).select_from(ClusterRun)) or 0
        stories = session.scalar(select(func.count()).select_from(Story)) or 0
    return runs, stories


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


@pytest.fixture
def holder(db_url: str, engine: Engine) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the stories lock of the test's database until told."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env(),
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process
        process.kill()


def cluster_cli(db_url: str, *args: str, **extra: str) -> list[str]:
    return [STORYLINE, *args, "cluster", "--db", db_url, "--now", NOW.isoformat()]


def run_cluster(db_url: str, wait_seconds: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cluster_cli(db_url),
        capture_output=True,
        text=True,
        env=env(STORYLINE_STAGE_LOCK_WAIT_SECONDS=str(wait_seconds)),
        timeout=60,
        check=False,
    )


def test_a_second_cluster_run_gives_up_after_its_wait_with_one_sentence(
    db_url: str, engine: Engine, holder: subprocess.Popen[str]
) -> None:
    seed_two_stories(engine)
    second = run_cluster(db_url, wait_seconds=1)
    assert second.returncode == 75, second.stderr
    assert second.stderr.splitlines() == [
        "storyline: error: another cluster run is in progress on this database (waited 1 s); "
        "let it finish and rerun, or raise STORYLINE_STAGE_LOCK_WAIT_SECONDS"
    ]
    assert counts(engine) == (0, 0)


def test_a_second_cluster_run_waits_for_the_first_then_runs(
    db_url: str, engine: Engine, holder: subprocess.Popen[str]
) -> None:
    seed_two_stories(engine)
    with subprocess.Popen(
        cluster_cli(db_url, "-v"),
        stderr=subprocess.PIPE,
        text=True,
        env=env(STORYLINE_STAGE_LOCK_WAIT_SECONDS="120"),
    ) as second:
        assert second.stderr is not None
        rest = _wait_then_release(second, engine, holder)
        assert second.wait(60) == 0, rest
    assert "lock taken" in rest
    assert "2 new stories" in rest
    assert counts(engine) == (1, 2)


def _wait_then_release(
    second: subprocess.Popen[str], engine: Engine, holder: subprocess.Popen[str]
) -> str:
    """Read the second run's log until it waits, release the holder; the rest of its log."""
    assert second.stderr is not None
    seen = []
    for line in iter(second.stderr.readline, ""):
        seen.append(line)
        if "waiting for lock" in line:
            break
    else:
        pytest.fail(f"the second run ended without waiting: {''.join(seen)}")
    assert counts(engine) == (0, 0)  # still waiting: nothing written
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    return second.stderr.read()


def test_a_killed_holder_leaves_no_lock_behind(
    db_url: str, engine: Engine, holder: subprocess.Popen[str]
) -> None:
    seed_two_stories(engine)
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    after = run_cluster(db_url, wait_seconds=10)
    assert after.returncode == 0, after.stderr
    assert counts(engine) == (1, 2)


def test_two_cluster_runs_started_together_both_succeed_and_write_once(
    db_url: str, engine: Engine
) -> None:
    seed_two_stories(engine)
    runs = [
        subprocess.Popen(
            cluster_cli(db_url),
            stderr=subprocess.PIPE,
            text=True,
            env=env(STORYLINE_STAGE_LOCK_WAIT_SECONDS="120"),
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[1] for run in runs]  # communicate closes the pipes
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert not any("Traceback" in output or "error" in output for output in outputs)
    assert sorted("2 new stories" in output for output in outputs) == [False, True]
    assert sum("window unchanged" in output for output in outputs) == 1
    assert counts(engine) == (1, 2)


def test_maintenance_waits_for_the_stories_lock_too(db_url: str, engine: Engine) -> None:
    settings = Settings.load(database_url=db_url, stage_lock_wait_seconds=0, retention_days=30)
    with exclusive(engine, STORIES_LOCK, wait_seconds=0, what="cluster run"):
        with pytest.raises(BusyError, match="another story update is in progress"):
            mark_dormant_stories(engine, settings, NOW)
        with pytest.raises(BusyError, match="another story update is in progress"):
            apply_retention(engine, settings, NOW)
        with pytest.raises(BusyError, match="another cluster run is in progress"):
            cluster(engine, settings, NOW)
    assert mark_dormant_stories(engine, settings, NOW) == []


def test_the_advisory_key_is_stable_and_fits_a_bigint() -> None:
    key = advisory_key(STORIES_LOCK)
    assert key == advisory_key("stories")
    assert key != advisory_key("feeds")
    assert -(2**63) <= key < 2**63

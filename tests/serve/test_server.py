"""``storyline serve`` stopped by SIGTERM drains: a request in flight is answered.

The request is made slow for real: PostgreSQL holds it on a lock this test takes on the
stories table, and lets it go once the server has been told to stop.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, Engine, text

from pipeline.db import make_engine, migrate
from tests.test_stopping import cli_env

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: object, what: str, process: subprocess.Popen[str]) -> None:
    assert callable(condition)
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"storyline serve ended ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def schema(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """The servers a test started, killed if a test fails before they end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def serving(
    processes: list[subprocess.Popen[str]], pg_url: str, port: int, **env: str
) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--db", pg_url],
        cwd=REPO,
        env=cli_env(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(process)

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).is_success
        except httpx.TransportError:
            return False

    wait_until(up, "it answered", process)
    return process


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def waiting_on_a_lock(admin: Connection, database: str) -> bool:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND wait_event_type = 'Lock'"
    )
    return bool(admin.execute(query, {"db": database}).scalar())


def slow_request(port: int, answers: list[httpx.Response | BaseException]) -> threading.Thread:
    def ask() -> None:
        try:
            answers.append(httpx.get(f"http://127.0.0.1:{port}/api/stories", timeout=60))
        except Exception as exc:
            answers.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    return thread


def test_sigterm_lets_the_request_in_flight_finish(
    pg_url: str, schema: Engine, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    process = serving(processes, pg_url, port)
    answers: list[httpx.Response | BaseException] = []
    database = schema.url.database or ""
    with schema.connect() as holder, schema.connect() as watcher:
        holder.execute(text("LOCK TABLE stories IN ACCESS EXCLUSIVE MODE"))
        asking = slow_request(port, answers)
        wait_until(lambda: waiting_on_a_lock(watcher, database), "the request waited", process)
        watcher.rollback()
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: refused(port), "it stopped accepting connections", process)
        assert process.poll() is None  # still answering the request in flight
        holder.rollback()  # the request goes on
    asking.join(timeout=60)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    (answer,) = answers
    assert isinstance(answer, httpx.Response), answer
    assert answer.status_code == 200
    assert answer.json()["items"] == []
    assert err.strip().splitlines()[-1] == (
        "serve: stopped by signal TERM, after the requests in flight (at most 8 s)"
    )


def test_a_request_longer_than_the_grace_period_is_cut(
    pg_url: str, schema: Engine, processes: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    process = serving(processes, pg_url, port, STORYLINE_SERVE_GRACE_SECONDS="1")
    answers: list[httpx.Response | BaseException] = []
    database = schema.url.database or ""
    with schema.connect() as holder, schema.connect() as watcher:
        holder.execute(text("LOCK TABLE stories IN ACCESS EXCLUSIVE MODE"))
        asking = slow_request(port, answers)
        wait_until(lambda: waiting_on_a_lock(watcher, database), "the request waited", process)
        watcher.rollback()
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=30)  # the lock is still held
        finally:
            holder.rollback()
    asking.join(timeout=60)
    assert process.returncode == 0, err
    assert err.strip().splitlines()[-1] == (
        "serve: stopped by signal TERM; 1 request still running after 1 s cut"
    )
    # Cut, and told so: a 503 to retry (another instance, or this one restarted).
    (answer,) = answers
    assert isinstance(answer, httpx.Response), answer
    assert (answer.status_code, answer.headers["retry-after"]) == (503, "1")
    assert answer.json() == {"detail": "the server is stopping; retry in a moment"}

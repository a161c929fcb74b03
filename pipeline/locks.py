"""Locks across processes and machines, so that two runs of a stage never interleave.

A cluster run reads the window, thinks, then rewrites story rows: two at once would both
create the stories of one cluster (a unique violation) or read rows the other just
replaced. ``exclusive`` serialises them wherever they run:

* **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) on a connection
  held for the whole run. Every process and machine that reaches the database sees it, and
  the server drops it when the connection ends, so a killed run never leaves it behind.
* **SQLite**: an ``flock`` on a file beside the database (``storyline.db.lock``). SQLite's
  own write lock is not held for the run's thinking: that would stall every ingest and
  embed write behind it. The kernel drops the lock when the process dies. A SQLite file is
  only ever shared by processes on one machine (SQLite's own rule), which this covers.

A run that finds the lock taken waits, polling, up to ``wait_seconds``, then raises
``BusyError``: one sentence, and exit status 75 (``EX_TEMPFAIL``: try again later).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from pipeline.errors import StorylineError
from pipeline.stopping import StopFlag

log = logging.getLogger(__name__)

STORIES_LOCK = "stories"
"""Held by every run that rewrites story rows: clustering, dormancy, retention."""
POLL_SECONDS = 0.2
"""First pause between two tries; it doubles up to ``MAX_POLL_SECONDS``."""
MAX_POLL_SECONDS = 2.0


class BusyError(StorylineError):
    """Another run holds the lock longer than this one may wait."""

    exit_status = 75


def advisory_key(name: str) -> int:
    """The signed 64-bit key of a named PostgreSQL advisory lock (stable across versions)."""
    digest = hashlib.blake2b(f"storyline:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_file(engine: Engine) -> Path | None:
    """The file beside a SQLite database that its lock is taken on; None for ``:memory:``."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}.lock")


@contextmanager
def exclusive(
    engine: Engine, name: str, *, wait_seconds: float, what: str, stop: StopFlag | None = None
) -> Iterator[None]:
    """Hold the lock ``name`` on ``engine``'s database for the block.

    ``what`` names the work for the message, e.g. "cluster run": "another cluster run is in
    progress ...". A ``stop`` asked for while waiting raises ``StoppedError`` (nothing was
    begun).
    """
    waiting = _Waiting(wait_seconds, what, stop or StopFlag())
    if engine.dialect.name == "postgresql":
        with _advisory(engine, name, waiting):
            yield
        return
    path = lock_file(engine)
    if path is None:
        yield
        return
    with _flock(path, waiting):
        yield


@dataclass(frozen=True)
class _Waiting:
    """How long to wait for a lock, for what, and whether to stop waiting."""

    seconds: float
    what: str
    stop: StopFlag


@contextmanager
def _advisory(engine: Engine, name: str, waiting: _Waiting) -> Iterator[None]:
    key = advisory_key(name)
    with engine.connect() as conn:

        def attempt() -> bool:
            taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()  # the lock belongs to the session, not to this transaction
            return taken

        _acquire(attempt, waiting, name)
        try:
            yield
        finally:
            if not conn.closed and not conn.invalidated:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()


@contextmanager
def _flock(path: Path, waiting: _Waiting) -> Iterator[None]:
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:

        def attempt() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        _acquire(attempt, waiting, path.name)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(attempt: Callable[[], bool], waiting: _Waiting, name: str) -> None:
    wait_seconds, what = waiting.seconds, waiting.what
    started = time.monotonic()
    pause = POLL_SECONDS
    if attempt():
        return
    log.info("waiting for lock", extra={"lock": name, "wait_seconds": wait_seconds})
    while True:
        waited = time.monotonic() - started
        if waited >= wait_seconds:
            raise BusyError(
                f"another {what} is in progress on this database (waited {waited:.0f} s); "
                "let it finish and rerun, or raise STORYLINE_STAGE_LOCK_WAIT_SECONDS"
            )
        waiting.stop.check(f"another {what} held the database, none was begun")
        time.sleep(min(pause, max(wait_seconds - waited, 0.0)))
        pause = min(pause * 2, MAX_POLL_SECONDS)
        if attempt():
            waited = time.monotonic() - started
            log.info("lock taken", extra={"lock": name, "waited": round(waited, 1)})
            return

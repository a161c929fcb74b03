"""Stopping a long stage when asked (SIGTERM, Ctrl-C), at a safe point, in one sentence.

A stop must not look like a crash, and must not cut a unit of work in half. So a signal
handler only *asks* (``StopFlag.request``: it sets an attribute, nothing else); the stages
take the flag as ``stop=`` and look at it between their units of work, where nothing is
half-written: after a feed's transaction, a page's outcome, an embedding batch, an entity
batch; before the cluster run's write (which then is not begun). Asked, a stage raises
:class:`StoppedError` saying what it finished ("5 of 12 due feeds stored"); the transaction in
flight, if any, has committed or (the exception passing ``session_scope``) rolled back.

The flag is handed down rather than kept in a module: the library sets no signal handler
and keeps no global state, so the CLI (``pipeline.cli``) and an Airflow task
(``dags/_common.py``, chained to Airflow's own SIGTERM handling) each ask in their own way,
and a test asks by calling ``request``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from pipeline.errors import StorylineError

T = TypeVar("T")

POLL_SECONDS = 0.1
"""How often a stage waiting on a worker thread looks at the flag: a stop does not wait
for a fetch in flight (its own deadline ends it, with nothing to store)."""


def signal_name(signum: int) -> str:
    """``TERM`` for SIGTERM, ``INT`` for SIGINT: as ``kill -TERM`` names them."""
    try:
        return signal.Signals(signum).name.removeprefix("SIG")
    except ValueError:
        return str(signum)


def exit_at_once(signum: int) -> None:
    """End the process now, with one line: a second signal, whose sender means it.

    Safe in a signal handler (a bare ``write`` and ``_exit``); transactions in flight are
    rolled back by the database when the connection drops.
    """
    os.write(2, f"storyline: stopped at once by a second signal {signal_name(signum)}\n".encode())
    os._exit(128 + signum)


class StoppedError(StorylineError):
    """A stage stopped at a safe point because a stop was asked for.

    ``exit_status`` is 128 + the signal's number (143 for SIGTERM, 130 for SIGINT), what a
    shell reports for a process the signal ended; the message says what was finished.
    """

    def __init__(self, signum: int, done: str) -> None:
        self.signum = signum
        self.done = done
        self.exit_status = 128 + signum
        super().__init__(f"stopped by signal {signal_name(signum)}; {done}, a rerun continues")

    def after(self, finished: str) -> StoppedError:
        """The same stop, with what earlier stages finished said first (``storyline run``)."""
        return StoppedError(self.signum, f"{finished}, {self.done}" if finished else self.done)


Done = str | Callable[[], str]
"""What was finished, or a function saying it (called only when stopping)."""


class StopFlag:
    """Asked to stop by ``request`` (from a signal handler: it only sets an attribute);
    looked at by the stages between units of work (``check``)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Ask the stage to stop at its next safe point (the first signal counts)."""
        if self.signum is None:
            self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def check(self, done: Done) -> None:
        """Raise :class:`StoppedError` saying ``done`` if a stop was asked for."""
        if self.signum is not None:
            raise StoppedError(self.signum, done if isinstance(done, str) else done())

    def result(self, future: Future[T], done: Done) -> T:
        """``future``'s result, waited for in short slices: a stop asked for meanwhile
        raises :class:`StoppedError` at once rather than waiting for it."""
        while True:
            self.check(done)
            try:
                return future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                continue

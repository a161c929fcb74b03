"""Errors a user can cause. Each message is one sentence naming the thing and what to do."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.db import Timeouts

LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"
IDLE_IN_TRANSACTION_TIMEOUT = "25P03"
"""PostgreSQL's SQLSTATEs of its lock, statement and idle-in-transaction timeouts."""
NOT_ANSWERING = "no answer from the server within"
"""How the error of a connection that waited too long for any answer begins
(``pipeline.db``): the server froze, or its network path died."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, for one-sentence reports.

    For a database error, the driver's own message (``exc.orig``) says what went wrong;
    an error with no message is named by its type.
    """
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


class StorylineError(Exception):
    """Base class: the CLI prints ``str(exc)`` and exits non-zero, without a traceback."""


class ConfigError(StorylineError):
    """A settings value or a feeds file is malformed."""


class DatabaseError(StorylineError):
    """The stories database cannot be reached or is not set up."""


class OutageError(StorylineError):
    """No due feed (or no article page) could be fetched: a cron job and Airflow's
    alerting must see it.

    The CLI exits with ``OutageError.exit_status`` (3), distinct from 1 (a usage or
    database error), so a wrapper can tell "the network or the feeds are down" apart.
    """

    exit_status = 3


class ModelError(StorylineError):
    """The embedding model cannot be loaded."""


def database_fault_hint(reason: str) -> str:
    """What an operator does about a database error whose driver message is ``reason``."""
    lowered = reason.lower()
    if "lock timeout" in lowered:
        return (
            "wait for the session holding the lock to finish "
            "(STORYLINE_DATABASE_LOCK_TIMEOUT_SECONDS is how long a run waits)"
        )
    if "statement timeout" in lowered:
        return (
            "check the server's load (STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS is how "
            "long a statement may run)"
        )
    if NOT_ANSWERING in lowered:
        return "check that the server is up, not overloaded and reachable"
    if "disk is full" in lowered or "no space left" in lowered or "could not extend" in lowered:
        return "free space on the database's disk"
    if "read-only" in lowered or "readonly" in lowered:
        return "make the database writable again"
    if "locked" in lowered:
        return "wait for the process holding the database to finish"
    return "check that the database is up and has room"


def library_error_message(
    exc: BaseException, database: str = "the database", timeouts: Timeouts | None = None
) -> str | None:
    """One sentence for an exception a user can cause that a library raised, else ``None``.

    These are the faults of the user's environment rather than of Storyline: a database file
    that is damaged or read-only, a database that is locked or down, a port in use, a path
    that cannot be read or written. Anything else is a bug, reported with its traceback.
    ``database`` names the database the command used (its URL without the password);
    ``timeouts`` are those its connections had, to say how long the server was given.
    """
    from sqlalchemy import exc as sa

    if isinstance(exc, sa.DBAPIError):
        reason = first_line(exc)
        lowered = reason.lower()
        timed_out = _timeout_message(exc, reason, database, timeouts)
        if timed_out is not None:
            return timed_out
        if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
            return (
                f"{database} is not a SQLite database or is damaged ({reason}); "
                "point --db at the right file, or restore it from a backup"
            )
        if "readonly" in lowered or "read-only" in lowered:
            return (
                f"cannot write to {database} ({reason}); check the permissions of the "
                "database file and of its folder"
            )
        if "locked" in lowered:
            return (
                f"{database} stayed locked by another process ({reason}); "
                "rerun when that process is done"
            )
        if isinstance(exc, sa.IntegrityError):
            # Every write of a stage is idempotent, so a collision is another process
            # writing the same rows at the same moment (two syncs of one new feed, say).
            return (
                f"{database} refused a write that collided with another process's "
                f"({reason}); rerun: the command converges to the same state"
            )
        if isinstance(exc, sa.OperationalError):
            return f"{database} failed during the run ({reason}); check it and rerun"
        return None
    if isinstance(exc, OSError):
        import errno

        what = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.EADDRINUSE:
            return (
                f"the address is already in use{what}; "
                "choose another --port or stop the other server"
            )
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return f"permission denied{what}; check the path's permissions"
        if exc.errno == errno.ENOSPC:
            return f"no space left on the device{what}; free some space and rerun"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
            return f"{exc.strerror or 'no such file'}{what}; check the path"
    return None


def _timeout_message(
    exc: BaseException, reason: str, database: str, timeouts: Timeouts | None
) -> str | None:
    """One sentence for a PostgreSQL statement, lock or idle-in-transaction timeout."""
    state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    lowered = reason.lower()

    def took(seconds: float | None, word: str = "within") -> str:
        return f" {word} {seconds:g} s" if seconds is not None else ""

    if NOT_ANSWERING in lowered:
        return (
            f"{database} stopped answering ({reason}); check that the server is up, not "
            "overloaded and reachable, then rerun, or raise "
            "STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS if it is only slow"
        )
    if state == LOCK_NOT_AVAILABLE and "lock timeout" in lowered:
        waited = took(timeouts.lock_seconds if timeouts else None)
        return (
            f"{database} did not grant a lock{waited} ({reason}); another session holds it "
            "(a long query, a migration, a stuck process): rerun when it is done, or raise "
            "STORYLINE_DATABASE_LOCK_TIMEOUT_SECONDS"
        )
    if state == QUERY_CANCELED and "statement timeout" in lowered:
        waited = took(timeouts.statement_seconds if timeouts else None)
        return (
            f"{database} did not finish a statement{waited} ({reason}); check the server "
            "(its load, a lock held for long) and rerun, or raise "
            "STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS"
        )
    if state == IDLE_IN_TRANSACTION_TIMEOUT or "idle-in-transaction timeout" in lowered:
        idle = took(timeouts.idle_in_transaction_seconds if timeouts else None, "for")
        return (
            f"{database} ended the session after it sat idle in a transaction{idle} "
            f"({reason}); rerun, or raise STORYLINE_DATABASE_IDLE_TRANSACTION_TIMEOUT_SECONDS"
        )
    return None

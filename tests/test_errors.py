"""Library errors a user can cause are recognised; anything else is left as a bug."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy import exc as sa

from pipeline.db import Timeouts
from pipeline.errors import library_error_message


def wrapped(kind: type[sa.DBAPIError], message: str) -> sa.DBAPIError:
    return kind("SELECT 1", {}, sqlite3.Error(message))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            wrapped(sa.DatabaseError, "file is not a database"),
            "database sqlite:///x.db is not a SQLite database or is damaged (file is not a "
            "database); point --db at the right file, or restore it from a backup",
        ),
        (
            wrapped(sa.DatabaseError, "database disk image is malformed"),
            "database sqlite:///x.db is not a SQLite database or is damaged",
        ),
        (
            wrapped(sa.OperationalError, "attempt to write a readonly database"),
            "cannot write to database sqlite:///x.db (attempt to write a readonly database)",
        ),
        (
            wrapped(sa.OperationalError, "database is locked"),
            "database sqlite:///x.db stayed locked by another process (database is locked)",
        ),
        (
            wrapped(sa.IntegrityError, "UNIQUE constraint failed: feeds.name"),
            "refused a write that collided with another process's (UNIQUE constraint failed",
        ),
        (
            wrapped(sa.OperationalError, "disk I/O error"),
            "database sqlite:///x.db failed during the run (disk I/O error); check it and rerun",
        ),
        (
            OSError(errno.EADDRINUSE, "Address already in use"),
            "the address is already in use; choose another --port",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/feeds.yaml"),
            "permission denied (/srv/feeds.yaml); check the path's permissions",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device"),
    ],
)
def test_a_library_error_a_user_can_cause_is_one_sentence(
    error: BaseException, expected: str
) -> None:
    message = library_error_message(error, "database sqlite:///x.db")
    assert message is not None
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a bug"),
        KeyError("story"),
        wrapped(sa.ProgrammingError, "no such column: stories.nope"),
        OSError(errno.EBADF, "Bad file descriptor"),
    ],
)
def test_anything_else_is_left_to_the_bug_report(error: BaseException) -> None:
    assert library_error_message(error) is None


def postgresql_error(sqlstate: str, message: str) -> sa.DBAPIError:
    """A PostgreSQL error as psycopg raises it (its class follows the SQLSTATE)."""
    from psycopg import errors

    return sa.OperationalError("SELECT 1", {}, errors.lookup(sqlstate)(message))


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            postgresql_error("57014", "canceling statement due to statement timeout"),
            "database D did not finish a statement within 300 s (canceling statement due to "
            "statement timeout); check the server (its load, a lock held for long) and rerun, "
            "or raise STORYLINE_DATABASE_STATEMENT_TIMEOUT_SECONDS",
        ),
        (
            postgresql_error("55P03", "canceling statement due to lock timeout"),
            "database D did not grant a lock within 30 s (canceling statement due to lock "
            "timeout); another session holds it (a long query, a migration, a stuck process): "
            "rerun when it is done, or raise STORYLINE_DATABASE_LOCK_TIMEOUT_SECONDS",
        ),
        (
            postgresql_error("25P03", "terminating connection due to idle-in-transaction timeout"),
            "database D ended the session after it sat idle in a transaction for 600 s "
            "(terminating connection due to idle-in-transaction timeout); rerun, or raise "
            "STORYLINE_DATABASE_IDLE_TRANSACTION_TIMEOUT_SECONDS",
        ),
        (
            # a cancel that is no timeout (an administrator's pg_cancel_backend)
            postgresql_error("57014", "canceling statement due to user request"),
            "database D failed during the run (canceling statement due to user request); "
            "check it and rerun",
        ),
    ],
)
def test_a_postgresql_timeout_names_its_setting(error: BaseException, expected: str) -> None:
    assert library_error_message(error, "database D", Timeouts()) == expected

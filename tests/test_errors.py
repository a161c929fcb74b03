"""Library errors a user can cause are recognised; anything else is left as a bug."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from sqlalchemy import exc as sa

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

"""Errors a user can cause. Each message is one sentence naming the thing and what to do."""

from __future__ import annotations


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


class FeedError(StorylineError):
    """One feed could not be fetched or parsed; recorded on the feed, never fatal to a run."""

    def __init__(self, feed: str, url: str, reason: str) -> None:
        super().__init__(f"feed {feed!r} ({url}): {reason}")
        self.feed = feed
        self.url = url
        self.reason = reason


class OutageError(StorylineError):
    """No due feed could be fetched: a cron job and Airflow's alerting must see it.

    The CLI exits with ``OutageError.exit_status`` (3), distinct from 1 (a usage or
    database error), so a wrapper can tell "the network or the feeds are down" apart.
    """

    exit_status = 3


class ModelError(StorylineError):
    """The embedding model cannot be loaded."""

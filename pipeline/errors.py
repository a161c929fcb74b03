"""Errors a user can cause. Each message is one sentence naming the thing and what to do."""

from __future__ import annotations


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


class ModelError(StorylineError):
    """The embedding model cannot be loaded."""

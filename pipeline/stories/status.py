"""Where a story stands and where a cluster run stands, as the database stores them."""

from __future__ import annotations

from enum import StrEnum


class StoryStatus(StrEnum):
    """Where a story stands; the value is what ``stories.status`` stores."""

    ACTIVE = "active"
    DORMANT = "dormant"
    """No new article for ``dormant_after_hours``; an article that joins it revives it."""
    MERGED = "merged"
    """Its articles went to another story (``merged_into_id``)."""
    DISSOLVED = "dissolved"
    """Its articles became noise."""


class RunStatus(StrEnum):
    """Where a cluster run stands; the value is what ``cluster_runs.status`` stores."""

    RUNNING = "running"
    """Until the run's transaction commits; a run that fails is rolled back with it."""
    OK = "ok"

"""The settings one cluster run reads, plans and writes by, built once from ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.settings import Settings


@dataclass(frozen=True)
class MatchKnobs:
    """How a run's clusters and lone articles are matched to stories, and how much of an
    article's text the word check and the keywords read. Recorded with each run."""

    model: str
    """The embedding model whose vectors the run compares."""
    window_hours: float
    recent_windows: float
    """Stories seen within this many windows are recent: a close centroid alone continues
    one; an older one also needs the word check."""
    match_similarity: float
    word_similarity: float | None
    attach_similarity: float | None
    """``None``: lone articles join nothing and pair with nothing."""
    text_chars: int
    """Characters of an article's body that its text for words and keywords keeps."""

    @classmethod
    def of(cls, settings: Settings) -> MatchKnobs:
        return cls(
            model=settings.model_name,
            window_hours=settings.window_hours,
            recent_windows=settings.story_recent_windows,
            match_similarity=settings.story_match_similarity,
            word_similarity=settings.story_match_word_similarity,
            attach_similarity=settings.attach_similarity,
            text_chars=settings.clustering.lexical_full_body_chars,
        )

    def recent_since(self, window_start: datetime) -> datetime:
        """Stories last seen from then on are recent."""
        return window_start - timedelta(hours=self.window_hours * (self.recent_windows - 1))

    def recorded(self) -> dict[str, float | None]:
        """The matching knobs as each run records them (and hashes them with its input)."""
        return {
            "story_match_similarity": self.match_similarity,
            "story_match_word_similarity": self.word_similarity,
            "attach_similarity": self.attach_similarity,
            "story_recent_windows": self.recent_windows,
        }

"""Progress reporting for long stages: a callback the caller chooses, the stage just calls it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]
"""Called with (done, total) as a stage advances."""


def terminal_progress(label: str, stream: TextIO | None = None) -> Progress | None:
    """A one-line counter redrawn in place on a terminal; ``None`` when not a terminal.

    Logs stay quiet in pipes and CI; a person at a terminal sees long work advance.
    """
    out = stream or sys.stderr
    if not out.isatty():
        return None

    def report(done: int, total: int) -> None:
        out.write(f"\r{label}: {done}/{total}")
        if done >= total:
            out.write("\r\033[K")
        out.flush()

    return report

from __future__ import annotations

import io

from pipeline.progress import terminal_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_counter_that_clears_when_done() -> None:
    out = Terminal()
    report = terminal_progress("embed", out)
    assert report is not None
    report(64, 128)
    report(128, 128)
    assert out.getvalue() == "\rembed: 64/128\rembed: 128/128\r\033[K"


def test_pipes_get_nothing() -> None:
    assert terminal_progress("embed", io.StringIO()) is None

"""The commit-msg hook (``make hooks``): refuse a subject of more than 72 characters.

The subject is the message's first paragraph, joined into one line as ``git log --oneline``
shows it; lines git strips (``#`` comments, everything below the scissors line) do not count.
Put the detail in the body, after a blank line.

    scripts/check-commit-msg.py .git/COMMIT_EDITMSG
"""

from __future__ import annotations

import sys
from pathlib import Path

MAX_SUBJECT = 72
SCISSORS = "# ------------------------ >8 ------------------------"


def subject(message: str) -> str:
    """The first paragraph of ``message`` as one line, without the lines git strips."""
    lines: list[str] = []
    for line in message.splitlines():
        if line == SCISSORS:
            break
        if line.startswith("#"):
            continue
        if line.strip():
            lines.append(line.strip())
        elif lines:
            break
    return " ".join(lines)


def problem(message: str) -> str | None:
    """One sentence on what is wrong with ``message``'s subject, or ``None``."""
    length = len(subject(message))
    if length <= MAX_SUBJECT:
        return None
    return (
        f"the commit subject is {length} characters; keep it to {MAX_SUBJECT} and put the "
        "detail in the body, after a blank line"
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: scripts/check-commit-msg.py MESSAGE-FILE", file=sys.stderr)
        return 2
    found = problem(Path(argv[0]).read_text(encoding="utf-8", errors="replace"))
    if found is None:
        return 0
    print(f"commit-msg: {found}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

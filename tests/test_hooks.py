"""The git hooks of `make hooks`: local ones only, and the commit-msg check of the subject."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "scripts" / "check-commit-msg.py"


def load_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_commit_msg", CHECK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = load_check()
LONGEST = "x" * 72


@pytest.mark.parametrize(
    ("message", "subject"),
    [
        (f"{LONGEST}\n\nA body of any length. " * 5, LONGEST),
        ("# a comment first\n\nFix the fetcher\n", "Fix the fetcher"),
        ("Two lines\nwithout a blank one\n\nbody", "Two lines without a blank one"),
        ("Short\n# ------------------------ >8 ------------------------\nx\n", "Short"),
        ("", ""),
    ],
    ids=["body-not-counted", "comments-skipped", "first-paragraph-joined", "scissors", "empty"],
)
def test_the_subject_is_the_first_paragraph_as_git_log_shows_it(message: str, subject: str) -> None:
    assert check.subject(message) == subject


@pytest.mark.parametrize(
    ("message", "refused"),
    [
        (LONGEST, False),
        ("é" * 72 + "\n", False),
        (LONGEST + "x", True),
        (
            "A subject of fifty-five characters, and then it goes on\nfor another line or two\n",
            True,
        ),
    ],
    ids=["72-characters", "72-non-ascii-characters", "73-characters", "a-wrapped-subject"],
)
def test_a_subject_over_72_characters_is_refused(message: str, refused: bool) -> None:
    found = check.problem(message)
    assert (found is not None) == refused
    if found is not None:
        assert "keep it to 72 and put the detail in the body" in found


@pytest.mark.parametrize(("length", "status"), [(72, 0), (73, 1)], ids=["fits", "too-long"])
def test_the_hook_exits_non_zero_on_a_long_subject(
    length: int, status: int, tmp_path: Path
) -> None:
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("s" * length + "\n\nbody\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(CHECK), str(message)], capture_output=True, text=True, check=False
    )
    assert done.returncode == status, done.stderr
    assert ("73 characters" in done.stderr) == (status == 1)


def test_every_hook_is_local_and_runs_from_the_venv() -> None:
    config: dict[str, Any] = yaml.safe_load(
        (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    )
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    hooks = config["repos"][0]["hooks"]
    assert {hook["language"] for hook in hooks} == {"system"}
    assert all(hook["entry"].startswith(".venv/bin/") for hook in hooks)
    assert set(config["default_install_hook_types"]) == {"pre-commit", "commit-msg"}
    assert config["default_stages"] == ["pre-commit"]
    assert any(
        "check-commit-msg.py" in hook["entry"] and hook["stages"] == ["commit-msg"]
        for hook in hooks
    )

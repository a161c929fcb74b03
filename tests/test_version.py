"""One version, pyproject.toml's: the installed metadata, `storyline --version`, the User-Agent
and ``pipeline.__version__`` all say it."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

import pipeline
from pipeline.cli import cli
from pipeline.settings import Settings
from pipeline.version import PYPROJECT, source_version

INSTALLED = version("storyline")


def test_storyline_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert (result.exit_code, result.output) == (0, f"storyline, version {INSTALLED}\n")


def test_the_user_agent_names_the_installed_version() -> None:
    assert Settings.load().user_agent == (
        f"Storyline/{INSTALLED} (+https://github.com/storyline-news/storyline)"
    )


def test_the_package_attribute_is_the_installed_version() -> None:
    assert pipeline.__version__ == INSTALLED


def test_the_checkout_declares_the_installed_version() -> None:
    # Fails after a version bump until the package is installed again (`make install`).
    assert source_version(PYPROJECT) == INSTALLED


@pytest.mark.parametrize(
    "text",
    [None, b"\xff not utf-8", "[project\n", '[project]\nname = "other"\nversion = "9.9"\n'],
    ids=["missing", "not-utf-8", "broken-toml", "another-project"],
)
def test_a_pyproject_that_is_not_storylines_has_no_version(
    text: str | bytes | None, tmp_path: Path
) -> None:
    path = tmp_path / "pyproject.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text, encoding="utf-8")
    assert source_version(path) is None


def test_importing_the_package_does_not_look_the_version_up() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, pipeline; print('pipeline.version' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout == "False\n"


def test_the_api_names_the_installed_version() -> None:
    from pipeline.serve.api import create_app
    from pipeline.settings import Settings

    app = create_app(Settings.load(database_url="sqlite://"))
    assert app.openapi()["info"]["version"] == INSTALLED

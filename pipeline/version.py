"""The package's version, from one source: ``version`` in pyproject.toml.

Installed (``make install``, the Docker image), it is read from the package's metadata; in a
checkout that was never installed, from the pyproject.toml beside the package. A release
moves it in pyproject.toml and CHANGELOG.md; nothing else spells it.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

DISTRIBUTION = "storyline"
PROJECT_URL = "https://github.com/storyline-news/storyline"
UNKNOWN = "0+unknown"
"""The version of a copy of the package with neither metadata nor its pyproject.toml."""
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@cache
def package_version() -> str:
    """The installed package's version, else the checkout's, else ``UNKNOWN``."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return source_version(PYPROJECT) or UNKNOWN


def source_version(pyproject: Path) -> str | None:
    """``project.version`` of ``pyproject`` when it is Storyline's; ``None`` otherwise."""
    import tomllib  # only a checkout that was never installed needs it

    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    found = project.get("version")
    return found if project.get("name") == DISTRIBUTION and isinstance(found, str) else None

"""The documentation's links: every relative link names a file that exists, and every
``#anchor`` a heading of that file, as GitHub spells its anchors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = sorted(
    [*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md"), ROOT / "sql" / "README.md"],
    key=lambda path: path.relative_to(ROOT).as_posix(),
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def prose(path: Path) -> str:
    """The document without its fenced code blocks."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {anchor(line.lstrip("#")) for line in prose(path).splitlines() if line.startswith("#")}


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Airflow: `dags/`", "airflow-dags"),
        ("The desk (dashboard)", "the-desk-dashboard"),
        ("2. Pick the feeds", "2-pick-the-feeds"),
        ("When feeds fail: what pages someone", "when-feeds-fail-what-pages-someone"),
    ],
)
def test_anchors_are_spelt_as_github_spells_them(heading: str, expected: str) -> None:
    assert anchor(heading) == expected


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in LINK.findall(prose(document)):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        file, _, fragment = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(ROOT)}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target}: no heading #{fragment} in {linked.relative_to(ROOT)}")
    assert not broken, broken

"""The article-extraction benchmark's pages, each as a feed item links to it, and its metric.

A folder like ``../shared/datasets/pages`` holds ``html/KEY.html.gz`` (a page's bytes as
served, gzipped) and ``ground-truth.json`` (each KEY's ``url`` and human-marked
``articleBody``). Each page stands for a teaser feed's item: its title is the page's first
<h1> (else its <title>), its teaser the first sentence of the true body, at most 200
characters. ``bench.extract`` (over HTTP, through the extract stage) and
``bench.extract_quality`` (the extractor called directly) give the same items, so their
scores compare.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import lxml.html

from pipeline.extract.article import decode_html


@dataclass(frozen=True)
class Case:
    """One page as a feed item links to it, with the body it should yield."""

    key: str
    html: str
    url: str | None
    title: str
    teaser: str
    truth: str


def teaser(text: str) -> str:
    """A feed's teaser of ``text``: its first sentence, at most 200 characters."""
    flat = " ".join(text.split())
    found = re.match(r"(.{40,200}?[.!?])(\s|$)", flat)
    return found.group(1) if found else flat[:200]


def page_title(html: str) -> str:
    """The headline a feed would give a page: its first <h1>, else its <title>."""
    doc = lxml.html.fromstring(html)
    for element in [*doc.iter("h1"), *doc.iter("title")]:
        text = " ".join(element.text_content().split())
        if text:
            return text
    return ""


def page_path(folder: Path, key: str) -> Path:
    """Where the page ``key``'s gzipped bytes are."""
    return folder / "html" / f"{key}.html.gz"


def load_pages(folder: Path) -> list[Case]:
    """The folder's pages by key, decoded as a page without a declared charset is."""
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    cases = []
    for key in sorted(truth):
        html = decode_html(gzip.decompress(page_path(folder, key).read_bytes()), None)
        body = truth[key]["articleBody"]
        cases.append(Case(key, html, truth[key]["url"], page_title(html), teaser(body), body))
    return cases


def load_metric(path: Path) -> ModuleType:
    """The benchmark's metric: the module at ``path``, with its ``score(truth, predictions)``."""
    spec = importlib.util.spec_from_file_location("aeb_score", path)
    if not path.is_file() or spec is None or spec.loader is None:
        raise SystemExit(f"{path}: not a Python file with the benchmark's score()")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(metric: ModuleType, cases: list[Case], texts: dict[str, str]) -> dict[str, float]:
    """The metric's F1, precision and recall of ``texts`` (by key) against the true bodies."""
    truth = {case.key: {"articleBody": case.truth} for case in cases}
    predictions = {key: {"articleBody": text} for key, text in texts.items()}
    scores: dict[str, float] = metric.score(truth, predictions)
    return scores

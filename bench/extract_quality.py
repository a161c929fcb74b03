"""Article-body extraction quality: trafilatura's defaults beside ours, one run.

    .venv/bin/python -m bench.extract_quality --pages ../shared/datasets/pages \\
        --metric ../shared/tools/aeb_score.py [--corpus teaser.jsonl --full corpus.jsonl]

``--pages``: a folder of real pages (``html/KEY.html.gz``, ``ground-truth.json`` with each
page's ``url`` and ``articleBody``), scored with the article-extraction benchmark's metric
(``--metric``, its ``score(truth, predictions)`` loaded from that file). Each page stands for
a feed item: its title is the page's first <h1> (else its <title>), its teaser the first
sentence of the true body, at most 200 characters, as a teaser feed carries it
(``bench/pages.py``; ``bench.extract --metric`` scores the same items read over HTTP).
``--corpus``/``--full``: a teaser corpus (rows with ``html``, ``title`` and the teaser as
``text``) scored against the full ``text`` of the row with the same ``id`` in ``--full``.
No item date is given: a teaser corpus's pages keep their template's date.

Rows: ``trafilatura`` (its defaults: the baseline); ``ours, page only`` (our extraction with
an empty title and teaser: nothing from the feed); ``ours`` (``extract_article`` as the text
stage calls it). Where ours returns None the stage keeps the feed's text, so the teaser is
scored; the reasons are counted. Pages/s is the extraction alone, on decoded text.
"shared" is the share of pages whose text shares a 4-word run with another page's that is
in neither's true body: a site's boilerplate let into two of its articles (teaser-corpus
pages share a template per outlet).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

from bench.pages import Case, load_metric, load_pages, score
from pipeline.extract.article import extract_article

Method = Callable[[Case], tuple[str, str]]
"""A page's extracted text and the reason (``ok`` when there is text)."""


def load_corpus(teasers: Path, full: Path) -> list[Case]:
    texts = {row["id"]: row["text"] for row in _rows(full)}
    return [
        Case(row["id"], row["html"], row.get("url"), row["title"], row["text"], texts[row["id"]])
        for row in _rows(teasers)
        if row.get("html")
    ]


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open() as lines:
        yield from (json.loads(line) for line in lines if line.strip())


def baseline(case: Case) -> tuple[str, str]:
    import trafilatura

    return trafilatura.extract(case.html) or "", "ok"


def ours(case: Case) -> tuple[str, str]:
    found = extract_article(
        case.html, url=case.url, title=case.title, teaser=case.teaser, published=None
    )
    return (found.text, found.reason) if found.text is not None else (case.teaser, found.reason)


def page_only(case: Case) -> tuple[str, str]:
    return ours(Case(case.key, case.html, case.url, "", "", case.truth))


METHODS: dict[str, Method] = {
    "trafilatura": baseline,
    "ours, page only": page_only,
    "ours": ours,
}


def measure(metric: ModuleType, cases: list[Case], method: Method) -> tuple[dict[str, float], str]:
    method(cases[0])  # imports and first-call set-up are not the pages' time
    texts, reasons = {}, Counter[str]()
    started = time.perf_counter()
    for case in cases:
        texts[case.key], reason = method(case)
        reasons[reason] += 1
    elapsed = time.perf_counter() - started
    scores = score(metric, cases, texts)
    scores["pages_per_second"] = len(cases) / elapsed
    scores["shared"] = shared_boilerplate([(case.truth, texts[case.key]) for case in cases])
    del reasons["ok"]
    return scores, ", ".join(f"{name} {n}" for name, n in reasons.most_common())


def shingles(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text)
    return {tuple(words[i : i + 4]) for i in range(len(words) - 3)}


def shared_boilerplate(pairs: list[tuple[str, str]]) -> float:
    """Share of pages whose extracted text shares with another page's text that is in
    neither's true body: boilerplate of a site that two of its articles both let in."""
    extra = [shingles(predicted) - shingles(truth) for truth, predicted in pairs]
    seen = Counter(shingle for found in extra for shingle in found)
    return sum(any(seen[s] > 1 for s in found) for found in extra) / len(pairs)


def report(name: str, metric: ModuleType, cases: list[Case]) -> None:
    print(f"\n{name}: {len(cases)} pages")
    print(f"{'':18} {'F1':>6} {'P':>6} {'R':>6} {'pages/s':>8} {'shared':>7}  feed text kept")
    for label, method in METHODS.items():
        scores, kept = measure(metric, cases, method)
        print(
            f"{label:18} {scores['f1']:6.3f} {scores['precision']:6.3f} {scores['recall']:6.3f}"
            f" {scores['pages_per_second']:8.1f} {scores['shared']:7.1%}  {kept}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=Path, required=True)
    parser.add_argument("--metric", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, help="a teaser corpus with pages (teaser_pages)")
    parser.add_argument("--full", type=Path, help="the full-text corpus it was made from")
    args = parser.parse_args()
    if (args.corpus is None) != (args.full is None):
        parser.error("--corpus and --full go together")
    if not (args.pages / "ground-truth.json").is_file():
        parser.error(f"{args.pages}: no ground-truth.json there (a folder like datasets/pages)")
    metric = load_metric(args.metric)
    report(str(args.pages), metric, load_pages(args.pages))
    if args.corpus is not None:
        report(str(args.corpus), metric, load_corpus(args.corpus, args.full))


if __name__ == "__main__":
    main()

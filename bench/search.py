"""What Unicode case folding costs the story search on SQLite.

    .venv/bin/python -m bench.search [--stories 50000] [--repeat 5]

Fills a SQLite file with ``--stories`` stories (titles of random words, some with accents,
eight keywords each), then times, on the same file in the same run:

* the API's search (``stories.list_stories`` with ``q``), ASCII and accented words, against
  the same listing with no ``q`` (the baseline);
* one scan of the titles with ``storyline_fold`` (Python's ``str.lower``, what the search
  uses on SQLite) against SQLite's own ASCII-only ``lower``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from models import Story
from pipeline.db import make_engine, migrate, session_scope
from pipeline.serve.queries import StoryQuery, list_stories

WORDS = [
    "storm",
    "flood",
    "rally",
    "vote",
    "strike",
    "talks",
    "summit",
    "quake",
    "fire",
    "court",
    "trial",
    "match",
    "market",
    "oil",
    "émeutes",
    "après",
    "sécurité",
    "élection",
    "grève",
    "réfugiés",
    "ministère",
    "santé",
]
T0 = datetime(2015, 11, 1, tzinfo=UTC)


def fill(url: str, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    engine = make_engine(url)
    migrate(engine)
    rows = []
    for i in range(n):
        title = " ".join(rng.choice(WORDS) for _ in range(8)).capitalize()
        if i % 3 == 0:
            title = title.upper()
        seen = T0 + timedelta(minutes=i)
        rows.append(
            {
                "title": title,
                "status": "active",
                "keywords": [rng.choice(WORDS) for _ in range(8)],
                "first_seen": seen,
                "last_seen": seen,
                "model": "m",
                "created_at": seen,
                "updated_at": seen,
                "article_count": 0,
                "source_count": 0,
            }
        )
    with session_scope(engine) as session:
        session.execute(insert(Story), rows)
    engine.dispose()


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` runs, after one warm-up."""
    action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="storyline-bench-search-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'search.db'}"
        fill(url, args.stories)
        engine = make_engine(url)
        now = T0 + timedelta(minutes=args.stories)

        def search(q: str | None) -> Callable[[], object]:
            def run() -> object:
                with session_scope(engine) as session:
                    return list_stories(session, StoryQuery(text=q), now).total

            return run

        def scan(function: str) -> Callable[[], object]:
            sql = text(f"SELECT count(*) FROM stories WHERE {function}(title) LIKE '%après%'")

            def run() -> object:
                with engine.connect() as conn:
                    return conn.execute(sql).scalar()

            return run

        cases = {
            "list, no q (baseline)": search(None),
            "q=storm (ASCII)": search("storm"),
            "q=ÉMEUTES APRÈS (accented)": search("ÉMEUTES APRÈS"),
        }
        listing = {label: timed(action, args.repeat) for label, action in cases.items()}
        scans = {
            "scan with SQLite lower (ASCII only, baseline)": timed(scan("lower"), args.repeat),
            "scan with storyline_fold (all of Unicode)": timed(scan("storyline_fold"), args.repeat),
        }
        engine.dispose()
    print(f"SQLite, {args.stories} stories, median of {args.repeat}")
    for group in (listing, scans):
        baseline = next(iter(group.values()))
        for label, seconds in group.items():
            print(f"{label:48} {seconds * 1000:9.1f} ms {seconds / baseline:7.2f}x")


if __name__ == "__main__":
    main()

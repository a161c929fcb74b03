"""What full-text search costs the article and story listings, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.search [--articles 100000] [--repeat 30] [--backend both]

Fills a scratch database of each backend (a SQLite file in a temporary folder; a PostgreSQL
database made beside ``STORYLINE_TEST_PG_URL``'s, as the tests make theirs, dropped at the
end) with ``--articles`` articles from 24 outlets: titles and feed summaries of words drawn
from a Zipf-like vocabulary, a page body for a third of them, "Beyoncé", "Saint-Denis" and
"Hollande" sprinkled at known rates, nine in ten articles in stories of about ten. Then it
times, on the same database in the same run, each query as the API runs it
(``queries.list_articles`` and ``queries.list_stories``, first page, in a session of its
own) ``--repeat`` times after one warm-up, and prints p50 and p99 in milliseconds beside
the same listing with no ``q`` (the baseline).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url

from models import Article, Feed, Story, StoryArticle
from pipeline.db import make_engine, migrate, session_scope
from pipeline.serve.queries import ArticleQuery, StoryQuery, list_articles, list_stories

PG_ADMIN_URL = os.environ.get(
    "STORYLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
T0 = datetime(2015, 11, 1, tzinfo=UTC)
OUTLETS = [
    f"{town} {kind}"
    for town in ("Harbor", "Northern", "Meridian", "Atlas", "Continental", "Riverside")
    for kind in ("Daily", "Courier", "Times", "Post")
]
SYLLABLES = ["ka", "lo", "mi", "re", "su", "ta", "vi", "no", "pe", "dra", "sel", "mon", "té", "rè"]
STORY_SIZE = 10
CHUNK = 5_000

ARTICLE_CASES: dict[str, dict[str, str]] = {
    "no q (baseline)": {},
    "q=beyonce (0.1 %, accent)": {"text": "beyonce"},
    "q=saint denis (0.5 %, hyphen)": {"text": "saint denis"},
    "q=hollande (2 %, text)": {"text": "hollande"},
    "q=<most common word> (~50 %)": {"text": "COMMON"},
    "q=hollande sai (prefix)": {"text": "hollande sai"},
    "q=zzzz (no match)": {"text": "zzzz"},
    'q=" ( * - (no word)': {"text": '" ( * -'},
    "outlet=harbor daily (part)": {"outlet": "harbor daily"},
}


@dataclass(frozen=True)
class Timing:
    p50: float
    p99: float


def vocabulary(rng: random.Random, size: int = 20_000) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def sentence(rng: random.Random, words: list[str], cumulative: list[float], n: int) -> str:
    return " ".join(rng.choices(words, cum_weights=cumulative, k=n))


def fill(engine: Engine, n: int, seed: int = 0) -> str:
    """``n`` articles, their feeds and stories; returns the most common word."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    with session_scope(engine) as session:
        feed_ids = []
        for outlet in OUTLETS:
            result = session.execute(
                insert(Feed).returning(Feed.id),
                [
                    {
                        "name": outlet.lower(),
                        "url": f"https://{outlet.lower().replace(' ', '-')}.example/rss",
                        "outlet": outlet,
                        "enabled": True,
                        "created_at": T0,
                        "updated_at": T0,
                        "error_count": 0,
                    }
                ],
            )
            feed_ids.append(result.scalar_one())
    stories = n // STORY_SIZE
    story_rows = [
        {
            "title": sentence(rng, words, weights, 8).capitalize(),
            "status": "active",
            "keywords": rng.choices(words, cum_weights=weights, k=8),
            "first_seen": T0 + timedelta(minutes=i * STORY_SIZE),
            "last_seen": T0 + timedelta(minutes=(i + 1) * STORY_SIZE),
            "model": "m",
            "created_at": T0,
            "updated_at": T0,
            "article_count": STORY_SIZE,
            "source_count": 5,
        }
        for i in range(stories)
    ]
    with session_scope(engine) as session:
        session.execute(insert(Story), story_rows)
        story_ids = list(session.scalars(text("SELECT id FROM stories ORDER BY id")))
    for start in range(0, n, CHUNK):
        articles, members = [], []
        for i in range(start, min(n, start + CHUNK)):
            title = sentence(rng, words, weights, 9).capitalize()
            summary = sentence(rng, words, weights, 40)
            body = sentence(rng, words, weights, 300) if i % 3 == 0 else None
            if i % 1000 == 0:
                title = f"Beyoncé {title}"
            if i % 200 == 7:
                summary = f"{summary} in Saint-Denis"
            if i % 50 == 3:
                body = f"{body or summary} President Hollande said"
            published = T0 + timedelta(minutes=i)
            articles.append(
                {
                    "id": i + 1,
                    "feed_id": feed_ids[i % len(feed_ids)],
                    "guid": f"g{i}",
                    "url": f"https://example.org/{i}",
                    "title": title,
                    "summary": summary,
                    "body": body,
                    "published_at": published,
                    "published_estimated": False,
                    "fetched_at": published,
                    "content_hash": f"h{i}",
                }
            )
            if i % 10 != 9 and i // STORY_SIZE < len(story_ids):
                story = story_ids[i // STORY_SIZE]
                members.append({"article_id": i + 1, "story_id": story, "since": published})
        with session_scope(engine) as session:
            session.execute(insert(Article), articles)
            if members:
                session.execute(insert(StoryArticle), members)
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    return words[0]


def percentiles(samples: list[float]) -> Timing:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return Timing(p50=statistics.median(samples), p99=cuts[98])


def timed(action: Callable[[], object], repeat: int) -> Timing:
    action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


@contextmanager
def scratch_database(backend: str) -> Iterator[str]:
    """The URL of an empty database of ``backend``, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="storyline-bench-search-") as folder:
            yield f"sqlite:///{Path(folder) / 'search.db'}"
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"storyline_bench_search_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(backend: str, n: int, repeat: int) -> dict[str, Timing]:
    with scratch_database(backend) as url:
        engine = make_engine(url)
        migrate(engine)
        started = time.perf_counter()
        common = fill(engine, n)
        seconds = time.perf_counter() - started
        print(f"{backend}: {n} articles filled and indexed in {seconds:.0f} s", flush=True)
        now = T0 + timedelta(minutes=n)
        results: dict[str, Timing] = {}

        def articles(**filters: str) -> Callable[[], object]:
            def run() -> object:
                with session_scope(engine) as session:
                    return list_articles(session, ArticleQuery(**filters)).total  # type: ignore[arg-type]

            return run

        def stories(**filters: str) -> Callable[[], object]:
            def run() -> object:
                with session_scope(engine) as session:
                    return list_stories(session, StoryQuery(**filters), now).total  # type: ignore[arg-type]

            return run

        for kind, listing in (("articles", articles), ("stories", stories)):
            for label, filters in ARTICLE_CASES.items():
                wanted = {k: common if v == "COMMON" else v for k, v in filters.items()}
                action = listing(**wanted)
                total = action()
                results[f"{kind:8} {label} [{total}]"] = timed(action, repeat)
        engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        results = measure(backend, args.articles, args.repeat)
        print(f"\n{backend}, {args.articles} articles, {args.repeat} runs each [matches]")
        print(f"{'':60} {'p50 ms':>8} {'p99 ms':>8} {'p50 / baseline':>15}")
        baseline: dict[str, float] = {}
        for label, timing in results.items():
            kind = label.split()[0]
            baseline.setdefault(kind, timing.p50)
            ratio = timing.p50 / baseline[kind]
            print(f"{label:60} {timing.p50 * 1000:8.1f} {timing.p99 * 1000:8.1f} {ratio:14.2f}x")


if __name__ == "__main__":
    main()

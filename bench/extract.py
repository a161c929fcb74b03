"""What reading an article's page costs, beside what embedding it costs, in one run.

    .venv/bin/python -m bench.extract [--pages ../shared/datasets/pages] [--repeat 1] \\
        [--metric ../shared/tools/aeb_score.py]

A local HTTP server serves the benchmark's real news pages (``html/KEY.html.gz``, sent
gzip-compressed as a site would); a fresh SQLite database holds one teaser article per page,
pending, linking to it, with the title and teaser ``bench.extract_quality`` gives the page
(``bench/pages.py``) and an estimated date. The extract stage then reads them all through
the real path (robots.txt, per-host limits, decoding, extraction, one transaction per
article): pages per second. The embed stage then embeds the same articles with the default
model (their text now the pages' bodies): texts per second. The ratio says what a page costs
next to its embedding (the target: extraction under a fifth of embedding, per article).

``--metric`` (the article-extraction benchmark's ``score(truth, predictions)``): each
article's text as a user then reads it (``Article.text``: the page's body, else the feed's
teaser) is scored against the page's marked body. ``bench.extract_quality`` scores the same
items with the extractor called on the decoded pages: the two F1s should agree.

Without the default pages folder (a clone without ``../shared``) the bench says so and
skips; a ``--pages`` folder without ``ground-truth.json`` is an error.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import Engine, select

from bench.pages import Case, load_metric, load_pages, page_path, score
from models import Article, Feed
from pipeline.db import make_engine, migrate, session_scope
from pipeline.embed.stage import embed
from pipeline.extract.policy import ExtractState
from pipeline.extract.stage import ExtractReport, extract
from pipeline.settings import Settings

DEFAULT_PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "pages"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@contextmanager
def serving(pages: dict[str, bytes]) -> Iterator[str]:
    """The pages (gzip bytes by path) on a loopback port; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fill(engine: Engine, base: str, cases: list[Case]) -> None:
    """One pending teaser article per page, as a feed would give it: the page's headline as
    its title, the first sentence of the marked body as its teaser, an estimated date."""
    with session_scope(engine) as session:
        feed = Feed(name="bench", url="bench", outlet="Bench", created_at=NOW, updated_at=NOW)
        session.add(feed)
        session.flush()
        session.add_all(
            Article(
                feed_id=feed.id,
                guid=case.key,
                url=f"{base}/{case.key}",
                title=case.title,
                summary=case.teaser,
                published_at=NOW,
                published_estimated=True,
                fetched_at=NOW,
                content_hash=case.key,
                extract_state=ExtractState.PENDING,
            )
            for case in cases
        )


def texts(engine: Engine) -> dict[str, str]:
    """Each article's text as a user reads it (its body, else the feed's), by page key."""
    with session_scope(engine) as session:
        return {key: text for key, text in session.execute(select(Article.guid, Article.text))}


def outcomes(report: ExtractReport) -> str:
    """The run's count of articles by state, then by reason (``ok`` once a body is read)."""
    states = {
        "ok": report.ok,
        "kept": report.kept,
        "skipped": report.skipped,
        "failed": report.failed,
        "retrying": report.retrying,
    }
    return "; ".join(
        f"{label} " + ", ".join(f"{name} {count}" for name, count in counts.items() if count)
        for label, counts in (("states", states), ("reasons", report.reasons))
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES)
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    parser.add_argument(
        "--metric", type=Path, help="the benchmark's metric (aeb_score.py): score the texts read"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    if not (args.pages / "ground-truth.json").is_file():
        if args.pages == DEFAULT_PAGES:
            print(f"bench.extract: skipped, no benchmark pages at {args.pages}", file=sys.stderr)
            return
        parser.error(f"{args.pages}: no ground-truth.json there (a folder like datasets/pages)")
    metric = load_metric(args.metric) if args.metric is not None else None
    cases = load_pages(args.pages)
    served = {f"/{case.key}": page_path(args.pages, case.key).read_bytes() for case in cases}
    raw = sum(len(gzip.decompress(body)) for body in served.values())
    print(f"{len(served)} pages, {raw / len(served) / 1024:.0f} KiB each on average")
    best_extract = best_embed = float("inf")
    with serving(served) as base, tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            page_allow_private_addresses=True, model_cache_dir=Path(tmp) / "cache"
        )
        for attempt in range(args.repeat):
            engine = make_engine(f"sqlite:///{tmp}/bench-{attempt}.db")
            migrate(engine)
            fill(engine, base, cases)
            started = time.perf_counter()
            report = extract(engine, settings, now=NOW)
            best_extract = min(best_extract, time.perf_counter() - started)
            read = texts(engine)
            started = time.perf_counter()
            embedded = embed(engine, settings).embedded
            best_embed = min(best_embed, time.perf_counter() - started)
            engine.dispose()
    count = len(served)
    print(f"extract: {outcomes(report)}")
    if metric is not None:
        scores = score(metric, cases, read)
        print(
            f"extract quality over HTTP (body, else teaser): F1 {scores['f1']:.3f} "
            f"P {scores['precision']:.3f} R {scores['recall']:.3f}"
        )
    print(f"{'stage':<10} {'seconds':>8} {'per second':>11} {'ms each':>8}")
    print(
        f"{'extract':<10} {best_extract:8.2f} {count / best_extract:11.1f} "
        f"{1000 * best_extract / count:8.1f}"
    )
    print(
        f"{'embed':<10} {best_embed:8.2f} {embedded / best_embed:11.1f} "
        f"{1000 * best_embed / max(embedded, 1):8.1f}"
    )
    print(
        f"extract / embed per article: {best_extract / count / (best_embed / max(embedded, 1)):.2f}"
    )


if __name__ == "__main__":
    main()

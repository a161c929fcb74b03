"""Replaying a labelled corpus through the real pipeline and scoring its stories.

Articles enter the database in publication order as the clock advances in steps; at each
step the production stages run (store, embed, cluster), so what is measured is what runs.
A labelled corpus is only ever needed here, never to run the product.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine, select

from models import Article, Feed, StoryArticle
from pipeline.db import session_scope
from pipeline.embed.backends import Embedder
from pipeline.embed.stage import embed
from pipeline.errors import ConfigError, first_line
from pipeline.extract.pages import StoredPages
from pipeline.extract.stage import extract
from pipeline.ingest.parse import EntryRecord, canonical_url, content_hash, html_to_text
from pipeline.ingest.stage import load_duplicate_index, store_entries
from pipeline.progress import Progress
from pipeline.settings import Settings
from pipeline.stories.stage import cluster


class LabelledArticle(BaseModel):
    """One line of a labelled corpus (see ../shared/datasets/README.md)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    story: str
    title: str
    text: str = ""
    published: datetime | None = None
    source: str | None = None
    url: str | None = None
    lang: str | None = None
    html: str | None = None
    """The article's page as a site serves it: the replay reads its text from the page
    (the extract stage, on stored pages), with ``text`` as the feed's teaser."""


def load_corpus(path: Path) -> list[LabelledArticle]:
    """Read a JSONL corpus; a bad line is one clear error naming the file and line.

    An id may repeat: the same article labelled with more than one story."""
    articles = []
    try:
        # JSON Lines end at "\n" only: str.splitlines() also breaks at U+0085, U+2028 and
        # others, which a JSON string may hold (a page's cp1252 "…" read as U+0085).
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError as exc:
        raise ConfigError(f"cannot read corpus {path} ({exc.strerror}); check the path") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"corpus {path} is not UTF-8 text (offset {exc.start}); save it as UTF-8 JSONL"
        ) from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            articles.append(LabelledArticle.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            reason = first_line(exc)
            raise ConfigError(
                f"corpus {path} line {number} is not a labelled article ({reason})"
            ) from exc
    if not articles:
        raise ConfigError(f"corpus {path} has no articles")
    return articles


@dataclass(frozen=True)
class Scores:
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    ami: float
    ari: float


def score(gold: Sequence[str], predicted: Sequence[str | None]) -> Scores:
    """Compare predicted stories with gold labels; an unclustered article is its own story.

    BCubed (Bagga & Baldwin) averages, per article, the precision and recall of its
    predicted cluster against its gold cluster; pairwise counts same-story pairs. Written
    here because no maintained library computes BCubed; AMI and ARI come from scikit-learn.
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    labels = [p if p is not None else f"\x00singleton-{i}" for i, p in enumerate(predicted)]
    gold_members: dict[str, set[int]] = defaultdict(set)
    pred_members: dict[str, set[int]] = defaultdict(set)
    for index, (g, p) in enumerate(zip(gold, labels, strict=True)):
        gold_members[g].add(index)
        pred_members[p].add(index)
    precision = recall = 0.0
    for g, p in zip(gold, labels, strict=True):
        shared = len(gold_members[g] & pred_members[p])
        precision += shared / len(pred_members[p])
        recall += shared / len(gold_members[g])
    n = len(labels)
    precision, recall = precision / n, recall / n

    contingency = Counter(zip(gold, labels, strict=True))
    both = sum(c * (c - 1) / 2 for c in contingency.values())
    in_pred = sum(len(m) * (len(m) - 1) / 2 for m in pred_members.values())
    in_gold = sum(len(m) * (len(m) - 1) / 2 for m in gold_members.values())
    pair_p = both / in_pred if in_pred else 1.0
    pair_r = both / in_gold if in_gold else 1.0
    return Scores(
        bcubed_precision=precision,
        bcubed_recall=recall,
        bcubed_f1=_f1(precision, recall),
        pairwise_precision=pair_p,
        pairwise_recall=pair_r,
        pairwise_f1=_f1(pair_p, pair_r),
        ami=float(adjusted_mutual_info_score(list(gold), labels)),
        ari=float(adjusted_rand_score(list(gold), labels)),
    )


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass
class Evaluation:
    corpus: str
    articles: int
    steps: int
    stories: int
    id_changes: int
    """Times an article's story id changed after it was first assigned."""
    scores: Scores
    seconds: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "articles": self.articles,
            "steps": self.steps,
            **asdict(self.scores),
            "stories": self.stories,
            "id_changes": self.id_changes,
            "seconds": self.seconds,
        }


def evaluate(
    engine: Engine,
    settings: Settings,
    corpus: list[LabelledArticle],
    *,
    name: str = "corpus",
    step_hours: float = 6.0,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> Evaluation:
    """Replay ``corpus`` step by step through store → embed → cluster, then score.

    ``embedder`` replaces the one the settings name (a benchmark's, say)."""
    undated_at = min(
        (a.published for a in corpus if a.published), default=datetime(2000, 1, 1, tzinfo=UTC)
    )
    arrival = {a.id: (a.published or undated_at).astimezone(UTC) for a in corpus}
    # An id given twice is one article labelled with two stories (GVA has a few): it is
    # stored once and each of its labelled rows is scored.
    unique = list({a.id: a for a in reversed(corpus)}.values())
    ordered = sorted(unique, key=lambda a: (arrival[a.id], a.id))
    steps = _steps(sorted(set(arrival.values())), timedelta(hours=step_hours))
    feeds = _make_feeds(engine, corpus, undated_at)
    urls: Counter[str | None] = Counter(a.url for a in corpus if a.url)
    # Pages, when the corpus gives them, are read by the extract stage as the web's would be.
    served = {url: a.html.encode() for a in corpus if a.html and (url := _entry_url(a, urls))}
    with_pages = bool(served)
    pages = StoredPages(served)
    seconds: dict[str, float] = defaultdict(float)
    memberships = _Memberships()
    position = 0
    for done, step_end in enumerate(steps, start=1):
        batch = []
        while position < len(ordered) and arrival[ordered[position].id] <= step_end:
            batch.append(ordered[position])
            position += 1
        with _timed(seconds, "store"):
            _store(engine, settings, batch, feeds, urls, arrival, with_pages)
        if with_pages:
            with _timed(seconds, "extract"):
                extract(engine, settings, pages=pages, now=step_end)
        with _timed(seconds, "embed"):
            embed(engine, settings, embedder)
        with _timed(seconds, "cluster"):
            cluster(engine, settings, now=step_end)
        memberships.read(engine)
        if progress is not None:
            progress(done, len(steps))
    current = memberships.current
    stored = _stored_ids(engine, corpus, feeds, urls)
    predicted = [
        str(current[stored[a.id]]) if stored.get(a.id) in current else None for a in corpus
    ]
    return Evaluation(
        corpus=name,
        articles=len(corpus),
        steps=len(steps),
        stories=len({p for p in predicted if p is not None}),
        id_changes=memberships.changes,
        scores=score([a.story for a in corpus], predicted),
        seconds={stage: round(value, 2) for stage, value in seconds.items()},
    )


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Add the block's wall time to ``seconds[stage]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] += time.perf_counter() - started


@dataclass
class _Memberships:
    """Each article's story after the latest step, and how often a story id changed."""

    current: dict[int, int] = field(default_factory=dict)
    changes: int = 0

    def read(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            for article_id, story_id in session.execute(
                select(StoryArticle.article_id, StoryArticle.story_id)
            ):
                if self.current.get(article_id, story_id) != story_id:
                    self.changes += 1
                self.current[article_id] = story_id


def _stored_ids(
    engine: Engine, corpus: list[LabelledArticle], feeds: dict[str, int], urls: Counter[str | None]
) -> dict[str, int]:
    """Corpus id → article id. A corpus article that production identity folded into another
    (same text in the same outlet, or the same canonical link) maps to that article."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(Article.id, Article.guid, Article.feed_id, Article.content_hash, Article.url)
        ).all()
    by_guid = {row.guid: row.id for row in rows}
    by_hash = {(row.feed_id, row.content_hash): row.id for row in rows}
    by_url = {row.url: row.id for row in rows if row.url}
    stored = {}
    for article in corpus:
        found = by_guid.get(article.id)
        if found is None:
            title, summary = html_to_text(article.title), html_to_text(article.text)
            feed = feeds[article.source or "unknown"]
            found = by_hash.get((feed, content_hash(title, summary)))
            if found is None and urls[article.url] == 1:
                found = by_url.get(canonical_url(article.url))
        if found is not None:
            stored[article.id] = found
    return stored


def _steps(times: list[datetime], step: timedelta) -> list[datetime]:
    """Step ends from the first arrival on; steps in which nothing arrives are skipped,
    since the clusterer would see an unchanged window."""
    start = times[0]
    return sorted({start + step * math.ceil((moment - start) / step) for moment in times})


def _make_feeds(engine: Engine, corpus: list[LabelledArticle], now: datetime) -> dict[str, int]:
    outlets = sorted({a.source or "unknown" for a in corpus})
    with session_scope(engine) as session:
        existing = {
            f.outlet: f.id for f in session.scalars(select(Feed).where(Feed.name.like("corpus:%")))
        }
        for outlet in outlets:
            if outlet not in existing:
                feed = Feed(
                    name=f"corpus:{outlet}"[:200],
                    url=f"corpus:{outlet}",
                    outlet=outlet,
                    enabled=False,
                    created_at=now,
                    updated_at=now,
                    error_count=0,
                )
                session.add(feed)
                session.flush()
                existing[outlet] = feed.id
    return existing


def _store(
    engine: Engine,
    settings: Settings,
    batch: list[LabelledArticle],
    feeds: dict[str, int],
    urls: Counter[str | None],
    arrival: dict[str, datetime],
    with_pages: bool,
) -> None:
    """Store a step's articles as ingest does, one transaction per feed; ``with_pages`` (a
    corpus that gives pages), teasers wait for their page as in production."""
    by_feed: dict[int, list[EntryRecord]] = defaultdict(list)
    for article in batch:
        summary = html_to_text(article.text)
        title = html_to_text(article.title)
        by_feed[feeds[article.source or "unknown"]].append(
            EntryRecord(
                guid=article.id,
                url=_entry_url(article, urls),
                title=title,
                summary=summary,
                published_at=arrival[article.id],
                published_estimated=article.published is None,
                language=article.lang,
                content_hash=content_hash(title, summary),
            )
        )
    if not by_feed:
        return
    now = max(arrival[a.id] for a in batch)
    duplicates = load_duplicate_index(engine, settings, now)
    teaser_max_chars = settings.teaser_max_chars if with_pages else None
    for feed_id in sorted(by_feed):
        with session_scope(engine) as session:
            store_entries(
                session,
                session.get_one(Feed, feed_id),
                by_feed[feed_id],
                now,
                duplicates,
                teaser_max_chars,
            )


def _entry_url(article: LabelledArticle, urls: Counter[str | None]) -> str | None:
    """The article's canonical URL; a URL the corpus gives twice would make two articles
    one, so it is left out, unless the row has a page: then a URL of its own stands in."""
    if article.url and urls[article.url] == 1:
        return canonical_url(article.url)
    if article.html:
        return f"https://corpus.invalid/{quote(article.id, safe='')}"
    return None

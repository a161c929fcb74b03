"""Extract stage: the text of each article waiting for its page, between ingest and embed.

For each ``pending`` article whose retry time has come (``extract_after``), the page its
link names is read (``pages.PageSource``: the web, politely, or a replay's stored pages),
decoded by its declared charset, and its body extracted (``article.extract_article``,
which also checks the page against what the feed said: title, teaser, date). Each outcome
is stored in its own short transaction as it comes, so a killed run keeps what it finished
and a rerun reads only what is still pending:

- ``ok``: the body is the article's text (``articles.body``; ``text_hash`` changes, so the
  embed stage re-embeds it once, and its story follows at the next cluster run);
- ``kept``: the page was read, but the feed's text is kept (a consent wall, a page that is
  not the article...): ``extract_reason`` says why;
- ``skipped``: the page will never be read (robots.txt, not HTML, 404, a redirect to a
  private address);
- a transient failure (a timeout, 429, 5xx) counts an attempt and waits
  (``fetch.next_attempt``: backoff, never before ``Retry-After``) until the attempts are
  used up: ``failed``.

Pages are fetched on worker threads (``fetch_concurrency``), in an order that takes one
article of each host in turn, so that one slow site holds one slot; they are extracted in
worker processes (``extract_processes``: trafilatura is not thread-safe, and a page that
crashes it must not end the run), and the outcomes stored on the calling thread.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Generator, Iterator
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ThreadPoolExecutor,
    wait,
)
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import zip_longest
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, case, or_, select, update

from models import Article
from pipeline.db import session_scope
from pipeline.errors import OutageError
from pipeline.extract.article import Extraction
from pipeline.extract.fetch import Page, PageError, next_attempt
from pipeline.extract.pages import PageSource, WebPages
from pipeline.extract.policy import ExtractState
from pipeline.extract.shared import keep_own
from pipeline.extract.workers import WorkerCrashError, shared
from pipeline.ingest.fetch import make_client
from pipeline.ingest.parse import content_hash
from pipeline.progress import Progress
from pipeline.settings import Settings
from pipeline.stopping import POLL_SECONDS, StopFlag

log = logging.getLogger(__name__)

UNREACHABLE = frozenset({"connection", "timeout", "robots unavailable"})
"""Reasons that say the site was not reached: with the network down, every page gets one
(robots.txt is asked first, so most get ``robots unavailable``)."""


@dataclass
class ExtractReport:
    articles: int = 0
    """Articles whose page was asked for."""
    ok: int = 0
    kept: int = 0
    skipped: int = 0
    retrying: int = 0
    failed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """How many outcomes had each reason (``ok``, ``robots``, ``http 404``, ``wall`` ...)."""

    @property
    def outage(self) -> bool:
        """Pages were asked for and not one site answered: the network is likely down.

        A 404, a 503, a consent wall are a site's answers, not an outage.
        """
        unreachable = sum(self.reasons.get(reason, 0) for reason in UNREACHABLE)
        return self.articles > 0 and unreachable == self.articles


@dataclass(frozen=True)
class Waiting:
    """A pending article, as read when the run started."""

    id: int
    url: str
    title: str
    teaser: str
    published_at: datetime | None
    """``None`` when the feed gave no date (ingest estimated it)."""
    content_hash: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What one article's page gave, to be stored."""

    article: Waiting
    state: ExtractState
    reason: str
    body: str | None = None
    attempts: int = 0
    after: datetime | None = None
    aside: tuple[str, ...] = ()
    """The body's last paragraphs set outside the lead's kind of element (``shared``)."""


def extract(
    engine: Engine,
    settings: Settings,
    *,
    pages: PageSource | None = None,
    now: datetime | None = None,
    article_ids: Collection[int] | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
) -> ExtractReport:
    """Read the page of every article waiting for one (of ``article_ids``, if given).

    A ``stop`` asked for is honoured between two outcomes' transactions and while waiting
    for pages: the pages not fetched yet are not asked for, and those in flight are left
    (still pending, with no attempt counted).
    """
    now = now or datetime.now(UTC)
    stop = stop or StopFlag()
    todo = waiting(engine, now, article_ids)
    report = ExtractReport()
    if not todo:
        return report
    started = time.perf_counter()

    def done() -> str:
        return f"{report.articles} of {len(todo)} pages read"

    with (
        _page_source(pages, settings) as source,
        closing(_outcomes(source, todo, settings, now, stop, done)) as outcomes,
    ):
        for outcome in outcomes:
            _store(engine, outcome)
            _count(report, outcome)
            if progress is not None:
                progress(report.articles, len(todo))
            stop.check(done)
    report.reasons = dict(sorted(report.reasons.items()))
    log.info(
        "pages read",
        extra={
            "articles": report.articles,
            "ok": report.ok,
            "kept": report.kept,
            "skipped": report.skipped,
            "retrying": report.retrying,
            "failed": report.failed,
            "seconds": round(time.perf_counter() - started, 3),
        },
    )
    return report


def check_outage(report: ExtractReport) -> None:
    """Raise :class:`OutageError` when no page of the run could be reached.

    The pages are not lost: each waits for its own next try (``page_retry_base_minutes``).
    """
    if not report.outage:
        return
    reasons = ", ".join(f"{reason} {count}" for reason, count in report.reasons.items())
    raise OutageError(
        f"none of the {report.articles} article pages could be reached ({reasons}); check "
        "the network: the pages are tried again on their own schedule"
    )


def waiting(
    engine: Engine,
    now: datetime,
    article_ids: Collection[int] | None = None,
    *,
    limit: int | None = None,
) -> list[Waiting]:
    """The pending articles whose retry time has come, by id (the first ``limit``, if
    given)."""
    query = (
        select(
            Article.id,
            Article.url,
            Article.title,
            Article.summary,
            # An estimated date (the fetch time) says nothing of the page's date.
            case((Article.published_estimated, None), else_=Article.published_at),
            Article.content_hash,
            Article.extract_attempts,
        )
        .where(
            Article.extract_state == ExtractState.PENDING,
            Article.url.is_not(None),
            or_(Article.extract_after.is_(None), Article.extract_after <= now),
        )
        .order_by(Article.id)
        .limit(limit)
    )
    if article_ids is not None:
        query = query.where(Article.id.in_(sorted(article_ids)))
    with session_scope(engine) as session:
        return [Waiting(*row) for row in session.execute(query)]


@contextmanager
def _page_source(pages: PageSource | None, settings: Settings) -> Iterator[PageSource]:
    """The page source for a run: the one given, else the web through a client of the
    fetch settings, closed after the run."""
    if pages is not None:
        yield pages
        return
    with make_client(settings) as client:
        yield WebPages(client, settings)


def _outcomes(
    source: PageSource,
    todo: list[Waiting],
    settings: Settings,
    now: datetime,
    stop: StopFlag,
    done: Callable[[], str],
) -> Generator[Outcome, None, None]:
    """Each article's outcome as it is known: worker threads fetch the pages, worker
    processes extract them (``workers.Workers``), the calling thread gets the outcomes.

    Asked to stop (``stop``, looked at while waiting), it raises ``StoppedError`` and fetches
    no page not begun; those in flight are left behind."""
    workers = shared(settings.extract_processes)
    fetchers = ThreadPoolExecutor(max_workers=max(settings.fetch_concurrency, 1))
    finished = False
    try:
        pending: dict[Future[Any], Waiting] = {
            fetchers.submit(fetch, source, article, settings, now): article
            for article in by_host_in_turn(todo)
        }
        while pending:
            stop.check(done)
            ready, _ = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in ready:
                article = pending.pop(future)
                try:
                    result = future.result()
                except WorkerCrashError as error:
                    yield retry_later(article, settings, now, str(error))
                    continue
                if isinstance(result, Page):
                    pending[
                        workers.submit(result.body, result.content_type, **item(article, result))
                    ] = article
                elif isinstance(result, Extraction):
                    yield outcome_of(article, result)
                else:
                    yield result
        finished = True
    finally:
        fetchers.shutdown(wait=finished, cancel_futures=True)


def item(article: Waiting, page: Page) -> dict[str, Any]:
    """What ``extract_page`` knows of the item besides its page."""
    return {
        "url": page.final_url,
        "title": article.title,
        "teaser": article.teaser,
        "published": article.published_at,
    }


def by_host_in_turn(articles: list[Waiting]) -> list[Waiting]:
    """The articles reordered to take one of each host in turn (hosts by first article)."""
    hosts: dict[str, list[Waiting]] = defaultdict(list)
    for article in articles:
        hosts[urlsplit(article.url).hostname or ""].append(article)
    return [
        article for turn in zip_longest(*hosts.values()) for article in turn if article is not None
    ]


def fetch(
    source: PageSource, article: Waiting, settings: Settings, now: datetime
) -> Page | Outcome:
    """One article's page, or the outcome of failing to fetch it (thread-safe)."""
    try:
        return source.page(article.url)
    except PageError as error:
        if error.permanent:
            return Outcome(article, ExtractState.SKIPPED, error.reason)
        return retry_later(article, settings, now, error.reason, error.retry_after)


def retry_later(
    article: Waiting,
    settings: Settings,
    now: datetime,
    reason: str,
    retry_after: datetime | None = None,
) -> Outcome:
    """The outcome of a transient failure (a page not fetched, an extraction that crashed
    or hung its worker): an attempt counted, tried again later until the attempts are
    used up."""
    attempts = article.attempts + 1
    after = next_attempt(attempts, now, retry_after, settings, key=article.url)
    state = ExtractState.PENDING if after is not None else ExtractState.FAILED
    return Outcome(article, state, reason, attempts=attempts, after=after)


def outcome_of(article: Waiting, extraction: Extraction) -> Outcome:
    """The outcome of an article's page, read."""
    if extraction.text is None:
        return Outcome(article, ExtractState.KEPT, extraction.reason)
    return Outcome(
        article, ExtractState.OK, extraction.reason, body=extraction.text, aside=extraction.aside
    )


def _store(engine: Engine, outcome: Outcome) -> None:
    """Record one outcome, unless the article changed since it was read (ingest saw new
    text: its extraction started over)."""
    article = outcome.article
    values: dict[str, object] = {
        "extract_state": outcome.state,
        "extract_reason": outcome.reason[:200],
        "extract_attempts": outcome.attempts or article.attempts,
        "extract_after": outcome.after,
    }
    with session_scope(engine) as session:
        if outcome.body is not None:
            body = keep_own(session, article.id, outcome.body, outcome.aside)
            # The same hash as the feed's text has: of the title and the text read.
            values |= {"body": body, "text_hash": content_hash(article.title, body)}
        session.execute(
            update(Article)
            .where(
                Article.id == article.id,
                Article.extract_state == ExtractState.PENDING,
                Article.content_hash == article.content_hash,
            )
            .values(values)
        )


def _count(report: ExtractReport, outcome: Outcome) -> None:
    report.articles += 1
    match outcome.state:
        case ExtractState.OK:
            report.ok += 1
        case ExtractState.KEPT:
            report.kept += 1
        case ExtractState.SKIPPED:
            report.skipped += 1
        case ExtractState.FAILED:
            report.failed += 1
        case ExtractState.PENDING:
            report.retrying += 1
    report.reasons[outcome.reason] = report.reasons.get(outcome.reason, 0) + 1

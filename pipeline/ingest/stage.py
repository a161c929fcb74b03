"""Ingest stage: fetch the feeds that are due and store each real article exactly once.

Fetching and parsing run concurrently in worker threads (bounded overall and per host);
storing runs on the calling thread, one transaction per feed, in feed order, so a killed
run keeps every feed it finished and a rerun picks up the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, Select, and_, or_, select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from models import Article, Feed
from pipeline.db import display_url, insert_or_ignore, session_scope
from pipeline.errors import DatabaseError, OutageError, database_fault_hint, first_line
from pipeline.extract.policy import ExtractState, initial_state
from pipeline.ingest.duplicates import DuplicateIndex, signature
from pipeline.ingest.fetch import Fetched, FetchError, HostLimits, fetch, make_client
from pipeline.ingest.identity import GUID, LINK, guids_changed, guids_collide, identity_key
from pipeline.ingest.language import detect_language, normalise_language
from pipeline.ingest.parse import EntryRecord, ParsedFeed, ParseError, parse_feed
from pipeline.ingest.schedule import backoff, next_check, parse_retry_after, publishing_interval
from pipeline.progress import Progress
from pipeline.settings import Settings
from pipeline.stopping import StopFlag

log = logging.getLogger(__name__)

GONE = 410


@dataclass
class IngestReport:
    feeds: int = 0
    failed: int = 0
    not_modified: int = 0
    entries: int = 0
    new_articles: int = 0
    updated_articles: int = 0
    reprints: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    recorded: int = 0
    """Due feeds whose outcome (stored, not modified or failed) has committed."""

    @property
    def outage(self) -> bool:
        """Feeds were due and every one of them failed: nothing could be fetched."""
        return self.feeds > 0 and self.failed == self.feeds

    @property
    def partial(self) -> bool:
        """Some of the due feeds failed, others were fetched."""
        return 0 < self.failed < self.feeds

    def add(self, feed: FeedReport) -> None:
        """Count one feed whose transaction committed."""
        self.recorded += 1
        self.entries += feed.entries
        self.new_articles += feed.stored.new
        self.updated_articles += feed.stored.updated
        self.reprints += feed.stored.reprints
        self.not_modified += int(feed.not_modified)
        if feed.error is not None:
            self.failed += 1
            self.errors[feed.name] = feed.error


@dataclass
class Stored:
    """What storing one feed's entries wrote."""

    new: int = 0
    updated: int = 0
    reprints: int = 0
    """New articles that are reprints of a recent article (counted in ``new`` too)."""


@dataclass(frozen=True)
class FeedReport:
    """What storing one feed's result did: one of stored, not modified or failed.

    Built while the feed is stored and added to the run's report only once the feed's
    transaction has committed, so a feed the database refused counts for nothing.
    """

    name: str
    entries: int = 0
    stored: Stored = field(default_factory=Stored)
    not_modified: bool = False
    error: str | None = None


def check_outage(report: IngestReport) -> None:
    """Raise :class:`OutageError` naming the failed feeds when no due feed could be fetched.

    A partial failure is not an outage: the feeds that worked are stored, the others are
    retried on their own backoff, and the report lists them.
    """
    if not report.outage:
        return
    reasons = "; ".join(f"{name}: {reason}" for name, reason in sorted(report.errors.items()))
    raise OutageError(
        f"none of the {report.feeds} due feeds could be fetched ({reasons}); check the "
        "network and the feeds' URLs (storyline feeds list), then rerun"
    )


@dataclass(frozen=True)
class FeedJob:
    """What a worker needs to fetch one feed: read before the fetch, no session attached."""

    id: int
    name: str
    url: str
    etag: str | None
    last_modified: str | None
    language: str | None


@dataclass(frozen=True)
class FeedResult:
    job: FeedJob
    fetched: Fetched | None = None
    parsed: ParsedFeed | None = None
    error: str | None = None
    status: int | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    """Wall time of the fetch and the parse, for the logs."""


def ingest(
    engine: Engine,
    settings: Settings,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    force: bool = False,
    feed_ids: Sequence[int] | None = None,
    progress: Progress | None = None,
    stop: StopFlag | None = None,
) -> IngestReport:
    """Fetch the enabled feeds that are due (all of them with ``force``) and store them.

    A server's ``Retry-After`` is honoured even with ``force``. ``feed_ids`` limits the run
    to those feeds (a scheduler can hand batches of feeds to separate workers). A failing
    feed is recorded on its row and never stops the others.

    A ``stop`` asked for is honoured between two feeds' transactions, and while waiting
    for a fetch: the feeds not fetched yet are not asked for, the fetches in flight are
    left to their deadline, and :class:`~pipeline.stopping.StoppedError` says how many feeds
    were stored.
    """
    now = now or datetime.now(UTC)
    stop = stop or StopFlag()
    with session_scope(engine) as session:
        jobs = due_feeds(session, now, force=force, feed_ids=feed_ids)
    report = IngestReport(feeds=len(jobs))
    if not jobs:
        return report
    own_client = client is None
    http = client or make_client(settings)
    limits = HostLimits(settings.fetch_per_host)
    duplicates: DuplicateIndex | None = None

    def done() -> str:
        return f"{report.recorded} of {len(jobs)} due feeds stored"

    pool = ThreadPoolExecutor(max_workers=settings.fetch_concurrency)
    finished = False
    try:
        futures = [pool.submit(_fetch_and_parse, job, http, limits, settings, now) for job in jobs]
        for future in futures:  # stored in feed order, as each comes
            result = stop.result(future, done)
            if duplicates is None and result.parsed is not None:
                duplicates = load_duplicate_index(engine, settings, now)
            try:
                report.add(_store_or_record(engine, result, settings, now, duplicates))
            except SQLAlchemyError as exc:
                raise _database_fault(engine, exc, result.job, report) from exc
            if progress is not None:
                progress(report.recorded, len(jobs))
            stop.check(done)
        finished = True
    finally:
        # Stopped or failed: fetch no feed not begun, and do not wait for those in flight
        # (they store nothing; the fetch deadline ends them). The client is closed after.
        pool.shutdown(wait=finished, cancel_futures=True)
        if own_client and finished:
            http.close()
        elif own_client:
            _close_when_done(pool, http)
    return report


def _close_when_done(pool: ThreadPoolExecutor, client: httpx.Client) -> None:
    """Close ``client`` once ``pool``'s fetches in flight have ended, without waiting."""

    def close() -> None:
        pool.shutdown(wait=True)
        client.close()

    threading.Thread(target=close, name="ingest-client-close", daemon=True).start()


def due_feeds(
    session: Session, now: datetime, *, force: bool = False, feed_ids: Sequence[int] | None = None
) -> list[FeedJob]:
    """Enabled, not gone, not asked to wait; and due unless ``force``. In feed id order."""
    query = select(Feed).where(
        Feed.enabled.is_(True),
        Feed.disabled_reason.is_(None),
        or_(Feed.retry_after_until.is_(None), Feed.retry_after_until <= now),
    )
    if not force:
        query = query.where(or_(Feed.next_check_at.is_(None), Feed.next_check_at <= now))
    if feed_ids is not None:
        query = query.where(Feed.id.in_(list(feed_ids)))
    return [
        FeedJob(
            feed.id, feed.name, feed.effective_url, feed.etag, feed.last_modified, feed.language
        )
        for feed in session.scalars(query.order_by(Feed.id))
    ]


def _fetch_and_parse(
    job: FeedJob, client: httpx.Client, limits: HostLimits, settings: Settings, now: datetime
) -> FeedResult:
    """Runs in a worker thread: network and parsing only, no database."""
    start = time.perf_counter()
    result = _fetch_and_parse_timed(job, client, limits, settings, now)
    return replace(result, seconds=round(time.perf_counter() - start, 3))


def _fetch_and_parse_timed(
    job: FeedJob, client: httpx.Client, limits: HostLimits, settings: Settings, now: datetime
) -> FeedResult:
    try:
        with limits.slot(job.url):
            fetched = fetch(
                client,
                job.url,
                max_bytes=settings.fetch_max_bytes,
                deadline_seconds=settings.fetch_deadline_seconds,
                etag=job.etag,
                last_modified=job.last_modified,
                allow_private_redirects=settings.fetch_allow_private_redirects,
            )
        if fetched.not_modified:
            return FeedResult(job, fetched=fetched)
        parsed = parse_feed(
            fetched.content,
            headers=fetched.headers,
            base_url=fetched.final_url,
            fetched_at=now,
            default_language=job.language,
        )
        return FeedResult(job, fetched=fetched, parsed=parsed)
    except FetchError as exc:
        return FeedResult(job, error=exc.reason, status=exc.status, retry_after=exc.retry_after)
    except ParseError as exc:
        return FeedResult(job, error=str(exc))
    except Exception as exc:  # one feed's surprise must not stop the others
        log.exception("unexpected failure", extra={"feed": job.name, "url": job.url})
        return FeedResult(job, error=f"unexpected {type(exc).__name__}: {exc}")


def _store_or_record(
    engine: Engine,
    result: FeedResult,
    settings: Settings,
    now: datetime,
    duplicates: DuplicateIndex | None,
) -> FeedReport:
    """Store one feed's result in its own transaction; what that did, once committed.

    If the database refuses the feed's rows for what they hold (``refused_for_content``),
    the transaction is rolled back whole, so nothing half-stored remains (and nothing of it
    is counted, nor kept in the reprint index), and the refusal is recorded as the feed's
    error. Any other database error is the database's own fault (a full disk, a read-only
    database, a lost connection): it is raised, and the feed is left as it was, due again.
    """
    try:
        with _index_transaction(duplicates), session_scope(engine) as session:
            return _store(session, result, settings, now, duplicates)
    except SQLAlchemyError as exc:
        if not refused_for_content(exc):
            raise
        reason = first_line(exc)
        failed = replace(result, error=f"the database refused this feed's entries ({reason})")
        log.warning("feed not stored", extra={"feed": result.job.name, "reason": reason})
        with session_scope(engine) as session:
            return _store(session, failed, settings, now, duplicates)


def refused_for_content(exc: SQLAlchemyError) -> bool:
    """Whether the database refused a feed's rows for what they hold (a value it cannot
    store, a constraint they break): the feed's fault, charged to it. Anything else (an
    ``OperationalError`` such as a full disk or a lost connection, a read-only transaction's
    ``InternalError``) is the database's, and must never put a feed into backoff."""
    return isinstance(exc, (DataError, IntegrityError))


def _index_transaction(duplicates: DuplicateIndex | None) -> AbstractContextManager[None]:
    return duplicates.transaction() if duplicates is not None else nullcontext()


def _database_fault(
    engine: Engine, exc: SQLAlchemyError, job: FeedJob, report: IngestReport
) -> DatabaseError:
    """The run stops on a fault of our own database: one sentence saying what was stored."""
    reason = first_line(exc)
    return DatabaseError(
        f"database {display_url(str(engine.url))} failed while storing feed {job.name!r} "
        f"({reason}); {report.recorded} of {report.feeds} due feeds were stored, the others "
        "are untouched and still due: "
        f"{database_fault_hint(reason)}, then rerun"
    )


def _store(
    session: Session,
    result: FeedResult,
    settings: Settings,
    now: datetime,
    duplicates: DuplicateIndex | None,
) -> FeedReport:
    """Record the fetch's outcome on the feed's row and store the entries it brought."""
    feed = session.get_one(Feed, result.job.id)
    feed.last_fetched_at = now
    if result.error is not None:
        return _store_failure(feed, result, result.error, settings, now)
    fetched = result.fetched
    assert fetched is not None
    _record_success(feed, fetched, now)
    if fetched.not_modified or result.parsed is None:
        return _store_not_modified(feed, result, settings, now)
    return _store_parsed(session, feed, result, fetched, result.parsed, settings, now, duplicates)


def _store_failure(
    feed: Feed, result: FeedResult, error: str, settings: Settings, now: datetime
) -> FeedReport:
    _record_failure(feed, result, settings, now)
    log.info(  # the report lists it; callers decide whether it is an outage
        "feed failed",
        extra={
            "feed": feed.name,
            "url": result.job.url,
            "status": result.status,
            "reason": error,
            "errors_in_a_row": feed.error_count,
            "next_check_at": feed.next_check_at,
            "seconds": result.seconds,
        },
    )
    return FeedReport(feed.name, error=error)


def _record_failure(feed: Feed, result: FeedResult, settings: Settings, now: datetime) -> None:
    feed.error_count += 1
    feed.last_error = result.error
    feed.last_error_at = now
    feed.last_status = result.status
    if result.status == GONE:
        feed.disabled_reason = (
            "HTTP 410 Gone: the publisher removed this feed; "
            "give it a new URL in the feeds file to enable it again"
        )
        feed.next_check_at = None
        return
    retry_after = parse_retry_after(result.retry_after, now, settings)
    feed.retry_after_until = retry_after
    later = backoff(now, feed.error_count, feed.name, settings)
    feed.next_check_at = max(later, retry_after) if retry_after else later


def _record_success(feed: Feed, fetched: Fetched, now: datetime) -> None:
    """What any answer but an error records, a 304 included."""
    if fetched.moved_to and fetched.moved_to != feed.effective_url:
        log.info("feed moved permanently", extra={"feed": feed.name, "to": fetched.moved_to})
        feed.fetch_url = fetched.moved_to
    feed.last_status = fetched.status
    feed.last_success_at = now
    feed.error_count = 0
    feed.retry_after_until = None


def _store_not_modified(
    feed: Feed, result: FeedResult, settings: Settings, now: datetime
) -> FeedReport:
    feed.last_error = None
    feed.next_check_at = next_check(now, feed.publish_interval_seconds, settings)
    log.info(
        "feed not modified",
        extra={"feed": feed.name, "url": result.job.url, "seconds": result.seconds},
    )
    return FeedReport(feed.name, not_modified=True)


def _store_parsed(
    session: Session,
    feed: Feed,
    result: FeedResult,
    fetched: Fetched,
    parsed: ParsedFeed,
    settings: Settings,
    now: datetime,
    duplicates: DuplicateIndex | None,
) -> FeedReport:
    feed.etag = fetched.headers.get("etag")
    feed.last_modified = fetched.headers.get("last-modified")
    feed.last_error = (
        f"recovered from a malformed feed: {parsed.problem}" if parsed.problem else None
    )
    stored = store_entries(
        session, feed, parsed.entries, now, duplicates, settings.teaser_max_chars
    )
    interval = publishing_interval(
        [entry.published_at for entry in parsed.entries if not entry.published_estimated]
    )
    feed.publish_interval_seconds = interval or feed.publish_interval_seconds
    feed.next_check_at = next_check(now, feed.publish_interval_seconds, settings)
    log.info(
        "feed stored",
        extra={
            "feed": feed.name,
            "url": result.job.url,
            "entries": len(parsed.entries),
            "new": stored.new,
            "updated": stored.updated,
            "reprints": stored.reprints,
            "seconds": result.seconds,
        },
    )
    return FeedReport(feed.name, entries=len(parsed.entries), stored=stored)


def store_entries(
    session: Session,
    feed: Feed,
    entries: list[EntryRecord],
    now: datetime,
    duplicates: DuplicateIndex | None,
    teaser_max_chars: int | None = None,
) -> Stored:
    """Insert new entries and update changed ones; unchanged entries cost a lookup.

    A new or changed article whose text is a teaser waits for its page
    (``extract.policy.initial_state``; ``teaser_max_chars`` ``None``: never)."""
    existing = load_existing(session, feed, entries)
    if feed.identity == GUID and (
        guids_collide(entries) or guids_changed(entries, existing.own_guids(feed.id))
    ):
        log.warning(
            "feed GUIDs are unreliable; identifying entries by link", extra={"feed": feed.name}
        )
        feed.identity = LINK
    keys = [identity_key(entry, feed.identity) for entry in entries]
    stored = Stored()
    for key, entry in first_of_each(keys, entries):
        article = existing.match(key, entry)
        if article is None:
            state = initial_state(feed.full_text, entry.url, entry.summary, teaser_max_chars)
            reprint = _insert(session, feed, key, entry, now, duplicates, state)
            if reprint is not None:
                stored.new += 1
                stored.reprints += reprint
        elif is_changed(article, entry, feed.id):
            _update(article, entry, now)
            _wait_for_page(
                article, initial_state(feed.full_text, entry.url, entry.summary, teaser_max_chars)
            )
            stored.updated += 1
    return stored


@dataclass(frozen=True)
class Existing:
    """The stored articles a feed's entries may match, indexed the three ways they match."""

    by_key: dict[str, Article] = field(default_factory=dict)
    """The feed's own articles by identity key."""
    by_url: dict[str, Article] = field(default_factory=dict)
    """Any feed's articles by canonical URL (a URL is stored once across all feeds)."""
    by_hash: dict[str, Article] = field(default_factory=dict)
    """The feed's own articles by content hash."""

    def match(self, key: str, entry: EntryRecord) -> Article | None:
        """The article ``entry`` is: by identity key, else canonical URL, else content hash."""
        return (
            self.by_key.get(key)
            or (self.by_url.get(entry.url) if entry.url else None)
            or self.by_hash.get(entry.content_hash)
        )

    def own_guids(self, feed_id: int) -> dict[str, str]:
        """The keys the feed's articles are stored under, by their URL."""
        return {url: a.guid for url, a in self.by_url.items() if a.feed_id == feed_id}


LOOKUP_CHUNK = 5000
"""Entries looked up at once: each binds up to four values (its URL, its key under either
identity, its content hash), and PostgreSQL takes at most 65,535 in one statement."""


def load_existing(session: Session, feed: Feed, entries: list[EntryRecord]) -> Existing:
    """Every stored article one of ``entries`` may match, in one query per
    ``LOOKUP_CHUNK`` entries.

    Keys are looked up under the feed's identity and under link identity too: the feed
    switches to link identity if its GUIDs prove unreliable, which these rows decide.
    """
    existing = Existing()
    for start in range(0, len(entries), LOOKUP_CHUNK):
        for article in session.scalars(_lookup(feed, entries[start : start + LOOKUP_CHUNK])):
            if article.url is not None:
                existing.by_url[article.url] = article
            if article.feed_id == feed.id:
                existing.by_key[article.guid] = article
                existing.by_hash[article.content_hash] = article
    return existing


def _lookup(feed: Feed, entries: list[EntryRecord]) -> Select[Article]:
    keys = {identity_key(entry, mode) for entry in entries for mode in (feed.identity, LINK)}
    urls = {entry.url for entry in entries if entry.url}
    hashes = {entry.content_hash for entry in entries}
    own = Article.feed_id == feed.id
    return (
        select(Article)
        .where(
            or_(
                Article.url.in_(urls),
                and_(own, Article.guid.in_(keys)),
                and_(own, Article.content_hash.in_(hashes)),
            )
        )
        # One article per content hash wins, the latest: the same on every run.
        .order_by(Article.id)
    )


def first_of_each(keys: list[str], entries: list[EntryRecord]) -> list[tuple[str, EntryRecord]]:
    """The entries with their keys, less repeats: an entry whose key or URL came before."""
    seen: set[str] = set()
    first: list[tuple[str, EntryRecord]] = []
    for key, entry in zip(keys, entries, strict=True):
        if key in seen or (entry.url is not None and entry.url in seen):
            continue  # the same entry twice in one document
        seen.add(key)
        if entry.url is not None:
            seen.add(entry.url)
        first.append((key, entry))
    return first


def is_changed(article: Article, entry: EntryRecord, feed_id: int) -> bool:
    """Whether the article an entry matched is its feed's own, with other text.

    A match by URL may be another feed's article: that feed's entry, left as it is.
    """
    return article.feed_id == feed_id and article.content_hash != entry.content_hash


def _text(entry: EntryRecord) -> str:
    return f"{entry.title}\n{entry.summary}"


def _insert(
    session: Session,
    feed: Feed,
    key: str,
    entry: EntryRecord,
    now: datetime,
    duplicates: DuplicateIndex | None,
    extract_state: ExtractState | None,
) -> int | None:
    """Insert one article unless a concurrent run got there first.

    Returns 1 if it is a reprint, 0 if original, ``None`` if nothing was inserted.
    """
    minhash = signature(_text(entry))
    first_copy = duplicates.find(minhash, entry.title) if duplicates is not None else None
    values: dict[str, Any] = {
        "feed_id": feed.id,
        "guid": key,
        "url": entry.url,
        "title": entry.title,
        "summary": entry.summary,
        "published_at": entry.published_at,
        "published_estimated": entry.published_estimated,
        "fetched_at": now,
        "language": detect_language(_text(entry)) or normalise_language(entry.language),
        "content_hash": entry.content_hash,
        "minhash": minhash,
        "duplicate_of_id": first_copy,
        "extract_state": extract_state,
    }
    statement = insert_or_ignore(session, Article).values(values).returning(Article.id)
    article_id = session.execute(statement).scalar()
    if article_id is None:
        return None
    if duplicates is not None:
        duplicates.add(article_id, minhash, entry.title)
    return int(first_copy is not None)


def _wait_for_page(article: Article, state: ExtractState | None) -> None:
    """A changed article's page is read afresh: what was extracted is of the old text."""
    article.body = None
    article.text_hash = None
    article.extract_state = state
    article.extract_reason = None
    article.extract_attempts = 0
    article.extract_after = None


def _update(article: Article, entry: EntryRecord, now: datetime) -> None:
    """The entry came back with other text: same article, new content (re-embedded later)."""
    article.title = entry.title
    article.summary = entry.summary
    article.content_hash = entry.content_hash
    article.minhash = signature(_text(entry))
    article.updated_at = now
    if article.published_estimated and not entry.published_estimated:
        article.published_at = entry.published_at
        article.published_estimated = False


def load_duplicate_index(engine: Engine, settings: Settings, now: datetime) -> DuplicateIndex:
    """Recent articles' signatures, oldest first, so a reprint links to the first copy."""
    index = DuplicateIndex(threshold=settings.duplicate_threshold)
    since = now - timedelta(days=settings.duplicate_window_days)
    with session_scope(engine) as session:
        rows = session.execute(
            select(Article.id, Article.minhash, Article.title)
            .where(Article.published_at >= since, Article.minhash.is_not(None))
            .order_by(Article.id)
        ).all()
    for article_id, minhash, title in rows:
        if minhash is not None:
            index.add(article_id, minhash, title)
    return index

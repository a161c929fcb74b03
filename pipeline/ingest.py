"""Ingest stage: fetch every enabled feed once and store the entries not seen before."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from models import Article, Feed
from pipeline.db import insert_ignore, session_scope
from pipeline.fetch import Fetched, FetchError, fetch, make_client
from pipeline.parse import EntryRecord, ParsedFeed, ParseError, parse_feed
from pipeline.progress import Progress
from pipeline.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    feeds: int = 0
    failed: int = 0
    not_modified: int = 0
    entries: int = 0
    new_articles: int = 0
    errors: dict[str, str] = field(default_factory=dict)


def ingest(
    engine: Engine,
    settings: Settings,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Fetch each enabled feed; a failing feed is recorded on its row and never stops the rest.

    Each feed is fetched and stored in its own transaction, so an interrupted run keeps
    what it stored and a rerun picks up the rest.
    """
    with session_scope(engine) as session:
        feed_ids = list(
            session.scalars(select(Feed.id).where(Feed.enabled.is_(True)).order_by(Feed.id))
        )
    report = IngestReport(feeds=len(feed_ids))
    own_client = client is None
    http = client or make_client(settings.fetch_timeout_seconds, settings.user_agent)
    try:
        for position, feed_id in enumerate(feed_ids, start=1):
            with session_scope(engine) as session:
                feed = session.get_one(Feed, feed_id)
                _ingest_one(session, feed, http, settings, now or datetime.now(UTC), report)
            log.info(
                "ingest progress", extra={"feed": feed_id, "done": position, "of": len(feed_ids)}
            )
            if progress is not None:
                progress(position, len(feed_ids))
    finally:
        if own_client:
            http.close()
    return report


def _ingest_one(
    session: Session,
    feed: Feed,
    client: httpx.Client,
    settings: Settings,
    now: datetime,
    report: IngestReport,
) -> None:
    feed.last_fetched_at = now
    try:
        fetched = fetch(
            client,
            feed.url,
            max_bytes=settings.fetch_max_bytes,
            etag=feed.etag,
            last_modified=feed.last_modified,
        )
        parsed = None if fetched.not_modified else _parse(fetched, feed, now)
    except (FetchError, ParseError) as exc:
        reason = exc.reason if isinstance(exc, FetchError) else str(exc)
        feed.last_status = exc.status if isinstance(exc, FetchError) else None
        feed.last_error = reason
        feed.error_count += 1
        report.failed += 1
        report.errors[feed.name] = reason
        log.warning("feed failed", extra={"feed": feed.name, "url": feed.url, "reason": reason})
        return
    feed.last_status = fetched.status
    feed.last_success_at = now
    feed.error_count = 0
    feed.etag = fetched.headers.get("etag") or feed.etag
    feed.last_modified = fetched.headers.get("last-modified") or feed.last_modified
    if parsed is None:
        feed.last_error = None
        report.not_modified += 1
        return
    feed.last_error = f"recovered from malformed feed: {parsed.problem}" if parsed.problem else None
    rows = [
        {
            "feed_id": feed.id,
            "guid": entry.guid,
            "url": entry.url,
            "title": entry.title,
            "summary": entry.summary,
            "published_at": entry.published_at,
            "published_estimated": entry.published_estimated,
            "fetched_at": now,
            "language": entry.language,
            "content_hash": entry.content_hash,
        }
        for entry in _unique(parsed)
    ]
    inserted = insert_ignore(session, Article.__table__, rows)  # type: ignore[arg-type]
    report.entries += len(rows)
    report.new_articles += inserted
    log.info("feed stored", extra={"feed": feed.name, "entries": len(rows), "new": inserted})


def _parse(fetched: Fetched, feed: Feed, now: datetime) -> ParsedFeed:
    return parse_feed(
        fetched.content,
        headers=fetched.headers,
        base_url=fetched.final_url,
        fetched_at=now,
        default_language=feed.language,
    )


def _unique(parsed: ParsedFeed) -> list[EntryRecord]:
    """Entries with a GUID or URL already seen earlier in the same document are dropped."""
    seen: set[str] = set()
    unique = []
    for entry in parsed.entries:
        keys = {f"guid:{entry.guid}"} | ({f"url:{entry.url}"} if entry.url else set())
        if keys & seen:
            continue
        seen |= keys
        unique.append(entry)
    return unique

"""The pure parts of storing a feed: its report, and which entry is which stored article."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from models import Article, Feed
from pipeline.ingest.parse import EntryRecord
from pipeline.ingest.stage import (
    Existing,
    FeedReport,
    IngestReport,
    Stored,
    first_of_each,
    is_changed,
)

WHEN = datetime(2015, 11, 18, tzinfo=UTC)
FEED = 1
OTHER_FEED = 2


def entry(url: str | None, content_hash: str = "h1") -> EntryRecord:
    return EntryRecord(None, url, "Title", "", WHEN, False, None, content_hash)


def article(id: int, feed_id: int = FEED, content_hash: str = "h1") -> Article:
    return Article(id=id, feed_id=feed_id, guid=f"g{id}", content_hash=content_hash)


@pytest.mark.parametrize(
    ("keys", "urls", "kept"),
    [
        (["k1", "k2"], ["https://a/1", "https://a/2"], [0, 1]),
        (["k1", "k1"], ["https://a/1", "https://a/2"], [0]),
        (["k1", "k2"], ["https://a/1", "https://a/1"], [0]),
        (["k1", "k2", "k3"], [None, None, None], [0, 1, 2]),
        (["https://a/1", "k2"], [None, "https://a/1"], [0]),
    ],
    ids=["distinct", "same-key", "same-url", "no-urls", "a-key-that-is-a-later-url"],
)
def test_first_of_each_drops_an_entry_whose_key_or_url_came_before(
    keys: list[str], urls: list[str | None], kept: list[int]
) -> None:
    entries = [entry(url) for url in urls]
    assert first_of_each(keys, entries) == [(keys[n], entries[n]) for n in kept]


BY_KEY = article(1)
BY_URL = article(2)
BY_HASH = article(3, content_hash="h3")
EXISTING = Existing({"k1": BY_KEY}, {"https://a/2": BY_URL}, {"h3": BY_HASH})


@pytest.mark.parametrize(
    ("key", "record", "expected"),
    [
        ("k1", entry("https://a/2", "h3"), BY_KEY),
        ("k9", entry("https://a/2", "h3"), BY_URL),
        ("k9", entry("https://a/9", "h3"), BY_HASH),
        ("k9", entry(None, "h3"), BY_HASH),
        ("k9", entry("https://a/9", "h9"), None),
    ],
    ids=["key-first", "then-url", "then-hash", "hash-without-url", "new"],
)
def test_an_entry_matches_by_key_then_url_then_hash(
    key: str, record: EntryRecord, expected: Article | None
) -> None:
    assert EXISTING.match(key, record) is expected


@pytest.mark.parametrize(
    ("stored", "record", "expected"),
    [
        (article(1), entry("https://a/1", "h1"), False),
        (article(1), entry("https://a/1", "h2"), True),
        (article(1, feed_id=OTHER_FEED), entry("https://a/1", "h2"), False),
    ],
    ids=["same-text", "other-text", "another-feeds-article"],
)
def test_only_the_feeds_own_article_with_other_text_is_changed(
    stored: Article, record: EntryRecord, expected: bool
) -> None:
    assert is_changed(stored, record, FEED) is expected


def test_own_guids_are_the_feeds_articles_by_url() -> None:
    own, other = article(1), article(2, feed_id=OTHER_FEED)
    existing = Existing(by_url={"https://a/1": own, "https://a/2": other})
    assert existing.own_guids(FEED) == {"https://a/1": "g1"}


def test_the_run_report_adds_each_feeds_report() -> None:
    report = IngestReport(feeds=3)
    report.add(FeedReport("stored", entries=5, stored=Stored(new=3, updated=1, reprints=1)))
    report.add(FeedReport("same", not_modified=True))
    report.add(FeedReport("down", error="HTTP 500 Internal Server Error"))
    assert report == IngestReport(
        feeds=3,
        failed=1,
        not_modified=1,
        entries=5,
        new_articles=3,
        updated_articles=1,
        reprints=1,
        errors={"down": "HTTP 500 Internal Server Error"},
        recorded=3,
    )
    assert report.partial


@pytest.mark.postgres
def test_the_lookup_of_a_huge_feed_binds_a_bounded_list(pg_url: str) -> None:
    """23,000 entries bind about 69,000 values in one lookup, more than PostgreSQL's 65,535
    a statement: the lookup goes in chunks, and finds what one statement would."""
    from pipeline.db import make_engine, migrate, session_scope
    from pipeline.ingest.stage import load_existing
    from tests.factories import T0, add_article, add_feeds, direction

    engine = make_engine(pg_url)
    try:
        migrate(engine)
        feed_id = add_feeds(engine, ["Alpha"])["Alpha"]
        stored = add_article(engine, feed_id, "Stored", T0, direction(1))
        entries = [entry(f"https://a.example/{n}", f"h{n}") for n in range(23_000)]
        with session_scope(engine) as session:
            feed = session.get_one(Feed, feed_id)
            known = session.get_one(Article, stored)
            entries.append(entry(None, known.content_hash))
            existing = load_existing(session, feed, entries)
            assert existing.match("no such key", entries[-1]) is known
            assert (existing.by_url, existing.by_hash) == ({}, {known.content_hash: known})
    finally:
        engine.dispose()

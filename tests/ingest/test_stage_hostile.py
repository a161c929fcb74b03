"""Ingest against a hostile corpus (``tests/hostile.py``) served over real HTTP on 127.0.0.1.

Every case sits in one feeds registry next to the good feeds and is held to one contract:
the run finishes; each good feed is stored exactly once; the hostile feed is stored (when it
can be read) or recorded with a one-line reason that names the problem, leaving no articles
behind; and a second, forced run later changes nothing it should not. Cases with more to
prove (redirects, ETags, Retry-After, backoff, 410, GUID identity, updates, XML attacks)
carry their own check in the table.
"""

from __future__ import annotations

import enum
import functools
import re
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from models import Article, Feed
from pipeline.db import session_scope
from pipeline.ingest.feeds import load_feeds_file, sync_feeds
from pipeline.ingest.stage import IngestReport, ingest
from pipeline.settings import Settings
from tests.feedserver import FeedServer
from tests.hostile import (
    ACCENTED,
    CANARY_DTD,
    CANARY_ENTITY,
    CANARY_PARAMETER,
    CANARY_TEXT,
    CHAIN_TO,
    DRIP_PATH,
    ETAG,
    FOUND_TO,
    GOOD_FEEDS,
    LAST_MODIFIED,
    LATIN1_ACCENTED,
    LOOP_A,
    LOOP_B,
    MOVED_308_TO,
    MOVED_TO,
    NON_ASCII_ETAG,
    NOW,
    RETRY_AFTER_DATE,
    STALL_PATH,
    TEMPORARY_307_TO,
    Corpus,
    SlowServer,
    serve_corpus,
)

LATER = NOW + timedelta(minutes=1)
"""The second run: forced, a minute after the first."""
MAX_BYTES = 256 * 1024
TIMEOUT = 5.0
"""Connect and read timeouts and the download deadline: the drip sends a byte every 0.1 s,
so its feed takes over 30 s and only the deadline ends it.

Short, so the slow cases stay fast, but not so short that a good feed misses it on a busy
machine: the deadline counts from the request, and a worker thread can wait for the GIL
while another parses a bomb. 0.5 s made good feeds fail now and then under load, and so did
2 s at a load of 4-9 on 2 cores (a good Atom feed stored nothing in one run of 1,446)."""
MEMORY_LIMIT = 200 * 1024 * 1024
"""Traced memory one run may peak at while a bomb is served (each bomb expands to 256 MiB)."""
RUN_SECONDS = 20.0
"""Longest one ingest run may take: the slowest cases wait out a 5 s timeout or deadline."""
LONGEST_TEXT = 10_000
"""Characters in a stored title or summary: entity bombs must not expand into the database."""
RECOVERED = "recovered from a malformed feed: "
GOOD_NAMES = [good.name for good in GOOD_FEEDS]


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Short timeouts and a small size cap, so the slow and big cases stay fast."""
    return Settings.load(
        database_url=db_url,
        fetch_connect_timeout_seconds=TIMEOUT,
        fetch_timeout_seconds=TIMEOUT,
        fetch_deadline_seconds=TIMEOUT,
        fetch_max_bytes=MAX_BYTES,
    )


@dataclass(frozen=True)
class Served:
    server: FeedServer
    slow: SlowServer
    corpus: Corpus


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FeedServer, SlowServer]]:
    """Started once: each test serves the corpus afresh on them (see ``served``)."""
    with FeedServer() as server, SlowServer() as slow:
        yield server, slow


@pytest.fixture
def served(servers: tuple[FeedServer, SlowServer], tmp_path: Path) -> Iterator[Served]:
    """The whole corpus with fresh routes and empty request logs, and a secret local file."""
    server, slow = servers
    secret = tmp_path / "secret.txt"
    secret.write_text(f"TOPSECRET-{uuid.uuid4().hex}", encoding="utf-8")
    server.errors.clear()
    yield Served(server, slow, serve_corpus(server, slow, secret))
    assert server.errors == []


# -- the state of the database ---------------------------------------------------------


@dataclass(frozen=True)
class State:
    feeds: dict[str, Feed]
    articles: dict[str, list[Article]]
    """Each feed's articles (detached rows), by feed name, in id order."""


def state(engine: Engine) -> State:
    with session_scope(engine) as session:
        feeds = {feed.id: feed for feed in session.scalars(select(Feed))}
        articles: dict[str, list[Article]] = {feed.name: [] for feed in feeds.values()}
        for article in session.scalars(select(Article).order_by(Article.id)):
            articles[feeds[article.feed_id].name].append(article)
    return State({feed.name: feed for feed in feeds.values()}, articles)


def row(article: Article) -> tuple[object, ...]:
    return (
        article.id,
        article.guid,
        article.url,
        article.title,
        article.summary,
        article.content_hash,
        article.published_at,
        article.published_estimated,
        article.updated_at,
        article.duplicate_of_id,
    )


def register(engine: Engine, tmp_path: Path, corpus: Corpus, names: list[str]) -> None:
    lines = [f"  - {{name: {name}, url: '{corpus.urls[name]}'}}" for name in names]
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(path), NOW)


def measured(run: Callable[[], IngestReport], *, memory: bool) -> tuple[IngestReport, int, float]:
    """The report, the traced peak of memory allocated meanwhile (0 unless ``memory``) and
    the seconds it took."""
    if memory:
        tracemalloc.start()
    started = time.monotonic()
    try:
        report = run()
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
    finally:
        if memory:
            tracemalloc.stop()
    return report, peak, time.monotonic() - started


# -- the contract ------------------------------------------------------------------------


class Outcome(enum.Enum):
    STORED = "stored"
    """Read in full: articles stored, no ``last_error``."""
    RECOVERED = "recovered"
    """Malformed but readable: articles stored, the problem in ``last_error``."""
    FAILED = "failed"
    """Unusable: nothing stored, a one-line reason in ``last_error``."""


@dataclass(frozen=True)
class Run:
    """A case after its two runs, for the case's own checks (which may run ingest again)."""

    case: Case
    engine: Engine
    settings: Settings
    served: Served
    first: IngestReport
    second: IngestReport
    after_first: State
    after_second: State

    @property
    def name(self) -> str:
        return self.case.feed

    def again(self, when: datetime, *, force: bool = True) -> State:
        ingest(self.engine, self.settings, now=when, force=force)
        return state(self.engine)

    def hits(self, path: str | None = None) -> int:
        """Requests the FeedServer got at ``path`` (the feed's own path by default)."""
        return len(self.served.server.requests_for(path or self.served.corpus.paths[self.name]))


@dataclass(frozen=True)
class Case:
    feed: str
    outcome: Outcome
    reason: str = ""
    """A pattern the one-line ``last_error`` must contain (case-insensitive)."""
    stored: int = 0
    """Articles from this feed after the first run."""
    titles: tuple[str, ...] = ()
    """Titles that must be stored exactly so: readable text, whatever the bytes were."""
    updates: int = 0
    """Articles the second run updates in place."""
    bounded: bool = False
    """Trace the first run's memory: it must stay under ``MEMORY_LIMIT``."""
    then: Callable[[Run], None] | None = None


def assert_one_line(reason: str | None) -> str:
    assert reason, "no reason recorded"
    assert not set(reason) & {"\n", "\r"}, f"reason is not one line: {reason!r}"
    return reason


def check_good_feeds(now: State) -> None:
    for good in GOOD_FEEDS:
        urls = [article.url or "" for article in now.articles[good.name]]
        assert sorted(urls) == sorted(good.links), f"{good.name} not stored exactly once"
        feed = now.feeds[good.name]
        assert (feed.status, feed.last_error) == ("active", None), good.name


def check_first_run(case: Case, report: IngestReport, now: State) -> None:
    feed, articles = now.feeds[case.feed], now.articles[case.feed]
    if case.outcome is Outcome.FAILED:
        reason = assert_one_line(report.errors.get(case.feed))
        assert re.search(case.reason, reason, re.IGNORECASE), reason
        assert feed.last_error == reason
        assert articles == [], "a failed feed left articles behind"
        assert feed.error_count == 1
        assert feed.status == ("disabled" if feed.last_status == 410 else "failing")
        return
    assert case.feed not in report.errors, report.errors.get(case.feed)
    assert (feed.status, feed.error_count) == ("active", 0), feed.last_error
    assert len(articles) == case.stored, [article.title for article in articles]
    if case.outcome is Outcome.STORED:
        assert feed.last_error is None
    else:
        problem = assert_one_line(feed.last_error)
        assert problem.startswith(RECOVERED), problem
        assert re.search(case.reason, problem, re.IGNORECASE), problem
    titles = {article.title for article in articles}
    for title in case.titles:
        assert title in titles, f"{title!r} not among {sorted(titles)}"


def check_second_run(report: IngestReport, updates: int, before: State, after: State) -> None:
    """No new articles, ``updates`` changed in place, every other row exactly as it was."""
    assert report.new_articles == 0
    assert report.updated_articles == updates
    for reason in report.errors.values():
        assert_one_line(reason)
    for name, articles in before.articles.items():
        if updates:
            identity = [(article.id, article.guid, article.url) for article in articles]
            assert identity == [(a.id, a.guid, a.url) for a in after.articles[name]], name
        else:
            assert [row(a) for a in articles] == [row(a) for a in after.articles[name]], name


def check_feed_kept(case: Case, after: State) -> None:
    """A failed feed keeps its error and stays empty; a readable one stays as it was."""
    feed = after.feeds[case.feed]
    if case.outcome is Outcome.FAILED:
        reason = assert_one_line(feed.last_error)
        assert re.search(case.reason, reason, re.IGNORECASE), reason
        assert feed.error_count >= 1
        assert after.articles[case.feed] == []
    else:
        assert feed.error_count == 0, feed.last_error
        assert (feed.last_error is None) == (case.outcome is Outcome.STORED), feed.last_error
        assert len(after.articles[case.feed]) == case.stored


def check_clean(now: State, served: Served) -> None:
    """No stored text holds a NUL or a lone surrogate, the local secret, a canary, or a bomb's
    expansion; no canary was ever requested."""
    for article in (a for articles in now.articles.values() for a in articles):
        for text in (article.title, article.summary):
            assert "\x00" not in text, f"NUL stored in {article.url}: {text!r}"
            assert text.encode("utf-8", "replace").decode() == text, f"not Unicode: {text!r}"
            assert served.corpus.secret not in text, f"local file leaked into {article.url}"
            assert CANARY_TEXT not in text, f"fetched entity stored in {article.url}"
            assert len(text) <= LONGEST_TEXT, f"{len(text)} characters in {article.url}"
    for canary in (CANARY_ENTITY, CANARY_PARAMETER, CANARY_DTD):
        assert served.server.requests_for(canary) == [], f"the XML parser fetched {canary}"


# -- each case's own checks ----------------------------------------------------------------


def moved(to: str) -> Callable[[Run], None]:
    """Every hop permanent: the feed's fetch URL follows, and the old one is asked no more."""

    def check(run: Run) -> None:
        assert run.after_first.feeds[run.name].fetch_url == run.served.server.url(to)
        assert run.after_second.feeds[run.name].url == run.served.corpus.urls[run.name]
        assert (run.hits(), run.hits(to)) == (1, 2)

    return check


def not_moved(to: str) -> Callable[[Run], None]:
    """A temporary hop on the way: the registry URL stays the one to ask."""

    def check(run: Run) -> None:
        assert run.after_second.feeds[run.name].fetch_url is None
        assert (run.hits(), run.hits(to)) == (2, 2)

    return check


def etag_sent_back(etag: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        first, second = run.served.server.requests_for(run.served.corpus.paths[run.name])
        assert "if-none-match" not in first.headers
        assert second.headers.get("if-none-match") == etag  # byte for byte: W/ and quotes
        assert second.headers.get("if-modified-since") == LAST_MODIFIED
        assert run.second.not_modified == 1
        assert run.after_second.feeds[run.name].etag == etag

    return check


def waits_until(until: Callable[[Settings], datetime]) -> Callable[[Run], None]:
    """Retry-After is kept, and honoured by forced runs until (and only until) it passes."""

    def check(run: Run) -> None:
        moment = until(run.settings)
        feed = run.after_first.feeds[run.name]
        assert feed.retry_after_until == moment
        assert feed.next_check_at is not None
        assert feed.next_check_at >= moment
        assert run.hits() == 1, "the forced second run asked before Retry-After"
        run.again(moment - timedelta(seconds=1))
        assert run.hits() == 1, "a forced run asked before Retry-After"
        after = run.again(moment)
        assert run.hits() == 2, "not asked again once Retry-After passed"
        assert after.feeds[run.name].error_count == 2

    return check


def unreadable_retry_after_is_ignored(run: Run) -> None:
    assert run.after_first.feeds[run.name].retry_after_until is None
    assert run.hits() == 2
    assert run.after_second.feeds[run.name].error_count == 2


def backs_off(run: Run) -> None:
    """Each failure waits about twice as long as the one before (+-20 % jitter)."""
    third = LATER + timedelta(hours=2)
    after = run.again(third)
    checked = [
        (run.after_first.feeds[run.name], NOW),
        (run.after_second.feeds[run.name], LATER),
        (after.feeds[run.name], third),
    ]
    base = timedelta(minutes=run.settings.error_backoff_base_minutes)
    delays = []
    for failures, (feed, when) in enumerate(checked, start=1):
        assert feed.error_count == failures
        assert feed.next_check_at is not None
        delay = feed.next_check_at - when
        assert base * 2 ** (failures - 1) * 0.8 <= delay <= base * 2 ** (failures - 1) * 1.2
        delays.append(delay)
    assert delays[0] < delays[1] < delays[2]
    assert run.hits() == 3


def disabled_for_good(run: Run) -> None:
    feed = run.after_first.feeds[run.name]
    assert feed.status == "disabled"
    assert feed.disabled_reason is not None
    assert "410" in feed.disabled_reason
    assert "\n" not in feed.disabled_reason
    assert feed.next_check_at is None
    assert run.hits() == 1, "a gone feed was asked again by a forced run"
    month = NOW + timedelta(days=30)
    run.again(month, force=False)
    run.again(month, force=True)
    assert run.hits() == 1


def identity_becomes_link(after: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        identities = (
            run.after_first.feeds[run.name].identity,
            run.after_second.feeds[run.name].identity,
        )
        assert identities == (("link", "link") if after == "first" else ("guid", "link"))

    return check


def both_entries_of_one_guid(run: Run) -> None:
    identity_becomes_link("first")(run)
    titles = {article.title for article in run.after_second.articles[run.name]}
    assert titles == {"Harbour fire contained", "Mayor resigns"}


def estimated_dates(run: Run) -> None:
    articles = run.after_second.articles[run.name]
    assert all(article.published_estimated for article in articles)
    assert {article.published_at for article in articles} == {NOW}
    assert sum(article.url is None for article in articles) == 3


def updated_in_place(run: Run) -> None:
    before = {a.guid: a for a in run.after_first.articles[run.name]}
    after = {a.guid: a for a in run.after_second.articles[run.name]}
    changed, neighbour = after["changed-1"], after["changed-2"]
    assert changed.id == before["changed-1"].id
    assert changed.title == "Minister resigns (version 2)"
    assert changed.summary == "Corrected text, version 2."
    assert changed.updated_at == LATER
    assert changed.content_hash != before["changed-1"].content_hash
    assert neighbour.updated_at is None


def loop_is_cut_short(run: Run) -> None:
    asked = run.hits(LOOP_A) + run.hits(LOOP_B)
    assert asked <= 2 * (run.settings.fetch_max_redirects + 1), asked


def slow_asked_twice(path: str) -> Callable[[Run], None]:
    def check(run: Run) -> None:
        assert run.served.slow.requests_for(path) == 2

    return check


LARGER = rf"larger than {MAX_BYTES} bytes"
MALFORMED = r"not well-formed|mismatched tag|invalid"
NOT_A_FEED = r"not an? (readable |RSS or Atom )feed"

CASES = [
    # malformed XML that still yields entries
    Case("malformed-ampersand", Outcome.RECOVERED, MALFORMED, 2, ("Fish & chips prices rise",)),
    Case("malformed-unclosed-tag", Outcome.RECOVERED, MALFORMED, 2, ("Unclosed tag ahead",)),
    Case("nul-characters", Outcome.RECOVERED, MALFORMED + "|NUL", 2),
    Case("invalid-character-references", Outcome.RECOVERED, MALFORMED, 3, ("Plain neighbour",)),
    # charsets that lie, or are missing
    Case("charset-latin1-said-utf8", Outcome.STORED, stored=1, titles=(LATIN1_ACCENTED,)),
    Case("charset-cp1252-said-utf8", Outcome.STORED, stored=1, titles=(ACCENTED,)),
    Case("charset-none-declared-latin1", Outcome.STORED, stored=1, titles=(LATIN1_ACCENTED,)),
    Case("charset-textxml-declared-latin1", Outcome.STORED, stored=1, titles=(LATIN1_ACCENTED,)),
    Case("utf16-with-bom", Outcome.STORED, stored=1, titles=(LATIN1_ACCENTED,)),
    Case("utf8-with-stray-bytes", Outcome.STORED, stored=2, titles=("Zürich votes on housing",)),
    # not a feed
    Case("html-page", Outcome.FAILED, NOT_A_FEED),
    Case("empty-200", Outcome.FAILED, NOT_A_FEED + "|empty"),
    # sizes, speeds and broken transfers
    Case("huge-body", Outcome.FAILED, LARGER),
    Case("truncated-body", Outcome.FAILED, r"complete message body|incomplete|closed"),
    Case(
        "slow-drip",
        Outcome.FAILED,
        rf"longer than {TIMEOUT:g} s \(fetch_deadline_seconds\)",
        then=slow_asked_twice(DRIP_PATH),
    ),
    Case("stalled-headers", Outcome.FAILED, r"timed out", then=slow_asked_twice(STALL_PATH)),
    # compression
    Case("brotli-good", Outcome.STORED, stored=1, titles=("Compressed with brotli",)),
    Case("gzip-bomb", Outcome.FAILED, LARGER, bounded=True),
    Case("brotli-bomb", Outcome.FAILED, LARGER, bounded=True),
    Case("zstd-bomb", Outcome.FAILED, LARGER, bounded=True),
    Case("gzip-header-plain-body", Outcome.FAILED, r"cannot decode the compressed response"),
    # redirects
    Case("moved-301", Outcome.STORED, stored=1, then=moved(MOVED_TO)),
    Case("moved-308", Outcome.STORED, stored=1, then=moved(MOVED_308_TO)),
    Case("found-302", Outcome.STORED, stored=1, then=not_moved(FOUND_TO)),
    Case("temporary-307", Outcome.STORED, stored=1, then=not_moved(TEMPORARY_307_TO)),
    Case("moved-then-found", Outcome.STORED, stored=1, then=not_moved(CHAIN_TO)),
    Case("redirect-loop", Outcome.FAILED, r"too many redirects", then=loop_is_cut_short),
    Case("redirect-to-file-url", Outcome.FAILED, r"unsupported protocol"),
    # conditional GET
    Case("etag-304", Outcome.STORED, stored=2, then=etag_sent_back(ETAG)),
    Case("etag-non-ascii", Outcome.STORED, stored=1, then=etag_sent_back(NON_ASCII_ETAG)),
    # the server says no
    Case(
        "rate-limited-429",
        Outcome.FAILED,
        r"HTTP 429",
        then=waits_until(lambda settings: NOW + timedelta(seconds=120)),
    ),
    Case(
        "unavailable-503-date",
        Outcome.FAILED,
        r"HTTP 503",
        then=waits_until(lambda settings: RETRY_AFTER_DATE),
    ),
    Case(
        "rate-limited-absurd",
        Outcome.FAILED,
        r"HTTP 429",
        then=waits_until(lambda settings: NOW + timedelta(hours=settings.retry_after_max_hours)),
    ),
    Case(
        "unavailable-garbage", Outcome.FAILED, r"HTTP 503", then=unreadable_retry_after_is_ignored
    ),
    Case("server-error-500", Outcome.FAILED, r"HTTP 500", then=backs_off),
    Case("gone-410", Outcome.FAILED, r"HTTP 410", then=disabled_for_good),
    # GUIDs that cannot be trusted, entries with little to go on, entries that change
    Case("very-long-guid", Outcome.STORED, stored=2, titles=("A 3 kB GUID",)),
    Case("very-long-link", Outcome.STORED, stored=2, titles=("A 3 kB link",)),
    Case("duplicate-guids", Outcome.STORED, stored=2, then=both_entries_of_one_guid),
    Case("unstable-guids", Outcome.STORED, stored=2, then=identity_becomes_link("second")),
    Case("no-links-no-dates", Outcome.STORED, stored=4, then=estimated_dates),
    Case("changed-text", Outcome.STORED, stored=2, updates=1, then=updated_in_place),
    # XML attacks: nothing expands, nothing outside the document is read
    Case("billion-laughs", Outcome.RECOVERED, r"amplification|entit", 2, bounded=True),
    Case("quadratic-blowup", Outcome.RECOVERED, r"amplification|entit", 2, bounded=True),
    # entity declarations are dropped before parsing, and the feed says so
    Case(
        "xxe-local-file",
        Outcome.RECOVERED,
        r"entity declarations ignored",
        2,
        titles=("Innocent neighbour",),
    ),
    Case(
        "xxe-http",
        Outcome.RECOVERED,
        r"entity declarations ignored",
        2,
        titles=("Innocent neighbour",),
    ),
    Case(
        "xxe-parameter-entity",
        Outcome.RECOVERED,
        r"entity declarations ignored",
        1,
        titles=("Parameter entity feed",),
    ),
    Case("external-dtd", Outcome.STORED, stored=1, titles=("External DTD feed",)),
]


def test_the_table_covers_the_whole_corpus(served: Served) -> None:
    assert {case.feed for case in CASES} == set(served.corpus.urls) - set(GOOD_NAMES)


@pytest.mark.parametrize("case", CASES, ids=[case.feed for case in CASES])
def test_hostile_feed_next_to_good_feeds(
    case: Case, engine: Engine, settings: Settings, served: Served, tmp_path: Path
) -> None:
    register(engine, tmp_path, served.corpus, [*GOOD_NAMES, case.feed])

    first, peak, seconds = measured(lambda: ingest(engine, settings, now=NOW), memory=case.bounded)
    assert seconds < RUN_SECONDS
    assert peak < MEMORY_LIMIT, f"memory peaked at {peak / 2**20:.0f} MiB"
    after_first = state(engine)
    check_good_feeds(after_first)
    check_first_run(case, first, after_first)
    assert (first.feeds, first.failed) == (
        len(GOOD_FEEDS) + 1,
        int(case.outcome is Outcome.FAILED),
    )

    second, _, seconds = measured(
        lambda: ingest(engine, settings, now=LATER, force=True), memory=False
    )
    assert seconds < RUN_SECONDS
    after_second = state(engine)
    check_good_feeds(after_second)
    check_second_run(second, case.updates, after_first, after_second)
    check_feed_kept(case, after_second)
    check_clean(after_first, served)
    check_clean(after_second, served)
    if case.then is not None:
        case.then(Run(case, engine, settings, served, first, second, after_first, after_second))


def test_whole_corpus_in_one_registry(
    engine: Engine, settings: Settings, served: Served, tmp_path: Path
) -> None:
    """Every hostile feed at once, fetched concurrently next to the good ones; every case's
    contract is checked and all the broken ones are listed together."""
    register(engine, tmp_path, served.corpus, [*GOOD_NAMES, *(case.feed for case in CASES)])

    first, _, seconds = measured(lambda: ingest(engine, settings, now=NOW), memory=False)
    assert seconds < 3 * RUN_SECONDS
    after_first = state(engine)
    second = ingest(engine, settings, now=LATER, force=True)
    after_second = state(engine)

    broken: list[str] = []
    for case in CASES:
        for check in (
            functools.partial(check_first_run, case, first, after_first),
            functools.partial(check_feed_kept, case, after_second),
        ):
            try:
                check()
            except AssertionError as exc:
                broken.append(f"{case.feed}: {str(exc).splitlines()[0]}")
    assert not broken, "\n".join(broken)
    check_good_feeds(after_first)
    check_good_feeds(after_second)
    assert set(first.errors) == {case.feed for case in CASES if case.outcome is Outcome.FAILED}
    check_second_run(second, sum(case.updates for case in CASES), after_first, after_second)
    check_clean(after_first, served)
    check_clean(after_second, served)

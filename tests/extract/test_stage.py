"""The extract stage on both backends, with pages served from memory (``StoredPages``) or by
a source that fails as the web does; the fetch path over real HTTP is in test_fetch.py and
the end-to-end run in test_run_with_pages.py."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from models import Article, Embedding
from pipeline.db import session_scope
from pipeline.embed.stage import embed
from pipeline.errors import OutageError
from pipeline.extract import workers
from pipeline.extract.article import Extraction
from pipeline.extract.fetch import Page, PageError
from pipeline.extract.pages import StoredPages
from pipeline.extract.policy import ExtractState
from pipeline.extract.stage import ExtractReport, by_host_in_turn, check_outage, extract, waiting
from pipeline.settings import Settings
from tests.factories import TopicEmbedder, add_feeds

NOW = datetime(2015, 11, 18, 12, tzinfo=UTC)
TITLE = "Police raid flat in Saint-Denis as manhunt for attackers continues"
TEASER = "French police raided a flat in Saint-Denis before dawn on Wednesday."
BODY = [
    TEASER,
    "Officers exchanged fire with people inside for several hours, prosecutors said, and "
    "a woman blew herself up as the police closed in.",
    "Seven people were arrested in the operation, which targeted the suspected organiser "
    "of Friday's attacks on Paris.",
    "Residents of the street were told to stay indoors until late in the morning.",
]


def page(title: str = TITLE, body: list[str] = BODY) -> bytes:
    """An article page of a site with navigation, related headlines and a footer."""
    paragraphs = "".join(f"<p>{text}</p>" for text in body)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{title} | The Courier</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a> <a href='/sport'>Sport</a></nav>"
        f"<article><h1>{title}</h1><p class='byline'>By Jane Doe</p>{paragraphs}</article>"
        "<aside><h2>Most read</h2><ul><li><a href='/a'>Ten cheap flights to book now</a></li>"
        "<li><a href='/b'>Football results from the weekend</a></li></ul></aside>"
        "<footer>Sign up for our newsletter. Copyright The Courier 2015. Cookie settings."
        "</footer></body></html>"
    ).encode()


def add_teaser(
    engine: Engine,
    feed_id: int,
    n: int,
    url: str | None = None,
    *,
    title: str | None = None,
    teaser: str = TEASER,
) -> int:
    """A pending teaser article linking to ``url`` (by default the Courier's page ``n``)."""
    with session_scope(engine) as session:
        article = Article(
            feed_id=feed_id,
            guid=f"g{n}",
            url=url or f"https://courier.example/{n}",
            title=title or (TITLE if n == 1 else f"{TITLE} ({n})"),
            summary=teaser,
            published_at=NOW - timedelta(hours=1),
            published_estimated=False,
            fetched_at=NOW,
            content_hash=f"hash{n}",
            extract_state=ExtractState.PENDING,
        )
        session.add(article)
        session.flush()
        return article.id


def states(engine: Engine) -> dict[int, tuple[str | None, str | None, int]]:
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Article.id, Article.extract_state, Article.extract_reason, Article.extract_attempts
            )
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


def test_a_teaser_gets_its_page_body_once_and_is_re_embedded_once(
    engine: Engine, settings: Settings
) -> None:
    feed = add_feeds(engine, ["Courier"])["Courier"]
    article = add_teaser(engine, feed, 1)
    embedder = TopicEmbedder(settings.model_name, 384)
    assert embed(engine, settings, embedder=embedder).embedded == 1
    report = extract(engine, settings, pages=StoredPages({"https://courier.example/1": page()}))
    assert (report.articles, report.ok, report.reasons) == (1, 1, {"ok": 1})
    with session_scope(engine) as session:
        stored = session.get_one(Article, article)
        assert stored.body is not None
        assert stored.body.startswith(TEASER)
        assert "Seven people were arrested" in stored.body
        for boilerplate in ("Sign up", "Most read", "cheap flights", "Home", "By Jane Doe"):
            assert boilerplate not in stored.body
        assert stored.text == stored.body
        assert stored.read_hash == stored.text_hash != stored.content_hash
    # The text changed: one new vector; then nothing more to do anywhere.
    assert embed(engine, settings, embedder=embedder).refreshed == 1
    assert extract(engine, settings, pages=StoredPages({})).articles == 0
    again = embed(engine, settings, embedder=embedder)
    assert (again.embedded, again.refreshed) == (0, 0)
    with session_scope(engine) as session:
        vector = session.scalars(select(Embedding)).one()
        assert vector.content_hash == session.get_one(Article, article).text_hash


def test_a_page_that_is_not_the_article_keeps_the_feeds_text(
    engine: Engine, settings: Settings
) -> None:
    feed = add_feeds(engine, ["Courier"])["Courier"]
    article = add_teaser(engine, feed, 1)
    wall = (
        b"<html><head><title>Before you continue</title></head><body><h1>We value your "
        b"privacy</h1><p>We and our partners use cookies to store and access information on "
        b"your device. Accept all cookies or manage your choices.</p>"
        b"<button>Accept all</button><button>Manage options</button></body></html>"
    )
    report = extract(engine, settings, pages=StoredPages({"https://courier.example/1": wall}))
    assert (report.ok, report.kept) == (0, 1)
    state, reason, _ = states(engine)[article]
    assert state == "kept"
    assert reason is not None
    assert reason != "ok"
    with session_scope(engine) as session:
        stored = session.get_one(Article, article)
        assert (stored.body, stored.text) == (None, TEASER)


class Flaky:
    """A source whose pages fail as a busy server's do: 503, then an answer."""

    def __init__(self, failures: int, retry_after: datetime | None = None) -> None:
        self.failures = failures
        self.retry_after = retry_after
        self.asked = 0

    def page(self, url: str) -> Page:
        self.asked += 1
        if self.asked <= self.failures:
            raise PageError("http 503", permanent=False, status=503, retry_after=self.retry_after)
        return Page(body=page(), content_type="text/html", final_url=url, status=200)


def test_a_transient_failure_is_retried_later_a_bounded_number_of_times(
    engine: Engine, settings: Settings
) -> None:
    feed = add_feeds(engine, ["Courier"])["Courier"]
    article = add_teaser(engine, feed, 1)
    later = NOW + timedelta(hours=2)
    source = Flaky(failures=99, retry_after=later)
    first = extract(engine, settings, pages=source, now=NOW)
    assert (first.retrying, states(engine)[article]) == (1, ("pending", "http 503", 1))
    with session_scope(engine) as session:
        after = session.get_one(Article, article).extract_after
        assert after is not None
        assert after >= later  # never before the server's Retry-After
    # Not due yet: nothing is asked.
    assert extract(engine, settings, pages=source, now=NOW + timedelta(minutes=5)).articles == 0
    moment = NOW
    for _ in range(settings.page_max_attempts + 2):
        moment += timedelta(days=2)
        extract(engine, settings, pages=source, now=moment)
    assert states(engine)[article] == ("failed", "http 503", settings.page_max_attempts)
    assert source.asked == settings.page_max_attempts
    # A later success is not asked for: failed is final.
    assert extract(engine, settings, pages=Flaky(0), now=moment + timedelta(days=9)).articles == 0


def test_a_permanent_failure_is_skipped_and_a_missing_page_too(
    engine: Engine, settings: Settings
) -> None:
    feed = add_feeds(engine, ["Courier"])["Courier"]
    gone = add_teaser(engine, feed, 1)
    report = extract(engine, settings, pages=StoredPages({}))
    assert (report.skipped, states(engine)[gone]) == (1, ("skipped", "no page", 0))


def test_an_article_changed_while_its_page_was_read_is_not_overwritten(
    engine: Engine, settings: Settings
) -> None:
    """Ingest updated the entry (new text) while the page was being read: its extraction
    started over, and the old page's outcome must not land on the new text."""
    feed = add_feeds(engine, ["Courier"])["Courier"]
    article = add_teaser(engine, feed, 1)

    class ChangesMidway:
        def page(self, url: str) -> Page:
            with session_scope(engine) as session:
                session.execute(
                    update(Article).where(Article.id == article).values(content_hash="new")
                )
            return Page(body=page(), content_type="text/html", final_url=url, status=200)

    extract(engine, settings, pages=ChangesMidway())
    assert states(engine)[article] == ("pending", None, 0)


@pytest.mark.parametrize(
    ("reasons", "outage"),
    [
        ({}, False),
        ({"connection": 2, "robots unavailable": 3, "timeout": 1}, True),
        ({"timeout": 2, "ok": 1}, False),
        ({"http 503": 3}, False),
        ({"http 404": 1, "connection": 1}, False),
    ],
    ids=["nothing-asked", "nothing-reached", "one-read", "site-answered-503", "site-answered-404"],
)
def test_an_outage_is_no_page_reached(reasons: dict[str, int], outage: bool) -> None:
    report = ExtractReport(articles=sum(reasons.values()), reasons=reasons)
    assert report.outage is outage
    if outage:
        with pytest.raises(OutageError, match="none of the 6 article pages could be reached"):
            check_outage(report)
    else:
        check_outage(report)


@pytest.mark.parametrize(
    ("urls", "order"),
    [
        (["https://a/1", "https://a/2", "https://b/1", "https://c/1"], [0, 2, 3, 1]),
        (["https://a/1", "https://a/2", "https://a/3"], [0, 1, 2]),
        ([], []),
    ],
    ids=["hosts-in-turn", "one-host", "none"],
)
def test_pages_are_asked_one_host_at_a_time_in_turn(urls: list[str], order: list[int]) -> None:
    from pipeline.extract.stage import Waiting

    articles = [Waiting(n, url, "t", "", None, "h", 0) for n, url in enumerate(urls)]
    assert [article.id for article in by_host_in_turn(articles)] == order


def test_only_pending_articles_whose_time_has_come_wait(engine: Engine) -> None:
    feed = add_feeds(engine, ["Courier"])["Courier"]
    due, later, done = (add_teaser(engine, feed, n) for n in (1, 2, 3))
    with session_scope(engine) as session:
        session.execute(
            update(Article)
            .where(Article.id == later)
            .values(extract_after=NOW + timedelta(hours=1))
        )
        session.execute(update(Article).where(Article.id == done).values(extract_state="ok"))
    assert [article.id for article in waiting(engine, NOW)] == [due]
    assert [article.id for article in waiting(engine, NOW + timedelta(hours=2))] == [due, later]


def test_pages_are_extracted_in_worker_processes_and_a_crash_costs_its_page_only(
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # trafilatura crashes the process when it parses on several threads at once
    # (trafilatura issues #840 and #925), and may on a hostile page, or hang
    feed = add_feeds(engine, ["Courier"])["Courier"]
    ids = [add_teaser(engine, feed, n) for n in range(1, 7)]

    def not_here(*args: object, **kwargs: object) -> Extraction:
        raise AssertionError("extracted in the stage's own process")

    monkeypatch.setattr(workers, "extract_page", not_here)
    monkeypatch.setattr(workers, "COMMAND", [sys.executable, "-m", "tests.extract.crashy_worker"])
    monkeypatch.setattr(workers, "TIMEOUT_SECONDS", 3.0)
    monkeypatch.setattr(workers, "_SHARED", {})
    pages = StoredPages({f"https://courier.example/{n}": page() for n in range(1, 7)})
    two = settings.model_copy(update={"extract_processes": 2})
    try:
        with caplog.at_level(logging.ERROR, logger="pipeline.extract.workers"):
            assert extract(engine, two, pages=pages).articles == 6
        ended = {record.reason: record for record in caplog.records}  # type: ignore[attr-defined]
        assert ended["extractor crashed"].exit_code == 1  # type: ignore[attr-defined]
        assert "Segmentation fault" in ended["extractor crashed"].stderr  # type: ignore[attr-defined]
        assert "extractor timeout" in ended
        after = states(engine)
        assert after[ids[1]] == (ExtractState.PENDING, "extractor crashed", 1)
        assert after[ids[2]] == (ExtractState.PENDING, "extractor timeout", 1)
        assert all(after[i] == (ExtractState.OK, "ok", 0) for i in ids if i not in ids[1:3])
        later = datetime.now(UTC)
        for _ in range(2):
            later += timedelta(days=1)
            assert extract(engine, two, pages=pages, now=later).articles == 2
    finally:
        workers._SHARED[2].close()
    assert states(engine) == after | {
        ids[1]: (ExtractState.FAILED, "extractor crashed", 3),
        ids[2]: (ExtractState.FAILED, "extractor timeout", 3),
    }

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from models import Article, Feed
from pipeline.db import make_engine, session_scope
from pipeline.errors import DatabaseError
from pipeline.ingest.feeds import load_feeds_file, sync_feeds
from pipeline.ingest.stage import ingest
from pipeline.settings import Settings

NOW = datetime(2015, 11, 18, 12, tzinfo=UTC)


def rss(*items: tuple[str, str]) -> bytes:
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        "<pubDate>Wed, 18 Nov 2015 08:00:00 GMT</pubDate><description>Text.</description></item>"
        for title, link in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{body}</channel></rss>'.encode()


SERVED = {
    "/good.xml": httpx.Response(
        200,
        content=rss(
            ("One", "https://good.example/1"), ("Two", "https://good.example/2?utm_source=x")
        ),
        headers={"ETag": '"g1"'},
    ),
    # the same story under a tracking parameter: same canonical URL, stored once
    "/mirror.xml": httpx.Response(200, content=rss(("Two again", "https://good.example/2#frag"))),
    "/html.xml": httpx.Response(200, content=b"<html><body>Oops</body></html>"),
    "/down.xml": httpx.Response(500),
}


def handler(request: httpx.Request) -> httpx.Response:
    if request.headers.get("If-None-Match") == '"g1"':
        return httpx.Response(304)
    response = SERVED[request.url.path]
    return httpx.Response(response.status_code, content=response.content, headers=response.headers)


def setup_feeds(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "local.xml").write_bytes(rss(("Local", "https://local.example/1")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        "  - {name: good, url: 'http://feeds.test/good.xml', outlet: Good}\n"
        "  - {name: mirror, url: 'http://feeds.test/mirror.xml'}\n"
        "  - {name: html, url: 'http://feeds.test/html.xml'}\n"
        "  - {name: down, url: 'http://feeds.test/down.xml'}\n"
        "  - {name: local, url: local.xml}\n"
        "  - {name: disabled, url: 'http://feeds.test/never.xml', enabled: false}\n",
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(feeds), NOW)


def article_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


def test_ingest_stores_good_feeds_once_and_records_bad_ones(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    setup_feeds(engine, tmp_path)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    report = ingest(engine, settings, client=client, now=NOW)
    assert (report.feeds, report.failed, report.new_articles) == (5, 2, 3)
    assert set(report.errors) == {"html", "down"}
    assert article_count(engine) == 3

    with session_scope(engine) as session:
        feeds = {feed.name: feed for feed in session.scalars(select(Feed))}
        urls = set(session.scalars(select(Article.url)))
    assert urls == {"https://good.example/1", "https://good.example/2", "https://local.example/1"}
    assert feeds["down"].last_error == "HTTP 500 Internal Server Error"
    assert feeds["down"].error_count == 1
    assert feeds["html"].last_error is not None
    assert "not" in feeds["html"].last_error
    assert (feeds["good"].etag, feeds["good"].last_status, feeds["good"].last_error) == (
        '"g1"',
        200,
        None,
    )
    assert feeds["good"].last_success_at == NOW
    assert feeds["disabled"].last_fetched_at is None

    # nothing is due a minute later; forced, the ETag feed answers 304 and nothing is stored
    assert ingest(engine, settings, client=client, now=NOW + timedelta(minutes=1)).feeds == 0
    again = ingest(engine, settings, client=client, now=NOW + timedelta(minutes=1), force=True)
    assert (again.new_articles, again.not_modified, again.failed) == (0, 1, 2)
    assert article_count(engine) == 3
    with session_scope(engine) as session:
        assert session.scalars(select(Feed.error_count).where(Feed.name == "down")).one() == 2


def test_articles_keep_their_fields(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    setup_feeds(engine, tmp_path)
    ingest(engine, settings, client=httpx.Client(transport=httpx.MockTransport(handler)), now=NOW)
    with session_scope(engine) as session:
        article = session.scalars(select(Article).where(Article.title == "Local")).one()
    assert article.published_at == datetime(2015, 11, 18, 8, tzinfo=UTC)
    assert article.fetched_at == NOW
    assert article.summary == "Text."
    assert len(article.content_hash) == 64


def test_feeds_are_fetched_when_due(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    setup_feeds(engine, tmp_path)
    client = httpx.Client(transport=httpx.MockTransport(handler))
    ingest(engine, settings, client=client, now=NOW)
    with session_scope(engine) as session:
        feeds = {feed.name: feed for feed in session.scalars(select(Feed))}
    good, down = feeds["good"], feeds["down"]
    assert good.next_check_at is not None
    assert down.next_check_at is not None
    # a healthy feed of unknown rate comes back after the default interval; a failing one
    # after the first backoff step (15 min, +-20 %)
    assert good.next_check_at == NOW + timedelta(minutes=settings.check_interval_default_minutes)
    assert NOW + timedelta(minutes=12) <= down.next_check_at <= NOW + timedelta(minutes=18)
    later = ingest(engine, settings, client=client, now=NOW + timedelta(minutes=20))
    assert set(later.errors) == {"down", "html"}
    assert later.feeds == 2


def test_changed_entry_updates_the_article(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    feed = tmp_path / "one.xml"
    feed.write_bytes(rss(("First version", "https://one.example/1")))
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {name: one, url: one.xml}\n", encoding="utf-8"
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(tmp_path / "feeds.yaml"), NOW)
    ingest(engine, settings, now=NOW)
    feed.write_bytes(rss(("Second version", "https://one.example/1")))
    report = ingest(engine, settings, now=NOW + timedelta(hours=1), force=True)
    assert (report.new_articles, report.updated_articles) == (0, 1)
    with session_scope(engine) as session:
        article = session.scalars(select(Article)).one()
    assert article.title == "Second version"
    assert article.updated_at == NOW + timedelta(hours=1)


WIRE = (
    "Officials said the storm would make landfall late on Tuesday near the port city, bringing "
    "winds of up to 180 kilometres an hour and heavy rain to coastal districts where tens of "
    "thousands of people have already been moved to shelters, the national weather agency said."
)


def item(title: str, link: str, text: str) -> str:
    return (
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Wed, 18 Nov 2015 08:00:00 GMT</pubDate><description>{text}</description></item>"
    )


def doc(*items: str) -> bytes:
    return f'<rss version="2.0"><channel><title>x</title>{"".join(items)}</channel></rss>'.encode()


def test_syndicated_copy_links_to_the_first(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "wire.xml").write_bytes(
        doc(item("Storm nears coast", "https://wire.example/1", WIRE))
    )
    (tmp_path / "paper.xml").write_bytes(
        doc(
            item(
                "STORM NEARS COAST!", "https://paper.example/a", WIRE + " (Reporting by A. Writer)"
            ),
            item(
                "Town fair opens",
                "https://paper.example/b",
                "The annual town fair opened with rides and music.",
            ),
        )
    )
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {name: wire, url: wire.xml}\n  - {name: paper, url: paper.xml}\n",
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(tmp_path / "feeds.yaml"), NOW)
    report = ingest(engine, settings, now=NOW)
    assert (report.new_articles, report.reprints) == (3, 1)
    with session_scope(engine) as session:
        by_url = {a.url: a for a in session.scalars(select(Article))}
    original = by_url["https://wire.example/1"]
    assert original.duplicate_of_id is None
    assert by_url["https://paper.example/a"].duplicate_of_id == original.id
    assert by_url["https://paper.example/b"].duplicate_of_id is None
    assert original.language == "en"


def refuse_inserts_titled(engine: Engine, title: str) -> None:
    """A trigger that makes the database refuse one article for what it holds, as a
    constraint it breaks would (a ``check_violation``, an ``IntegrityError``)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE INSERT ON articles WHEN NEW.title = '{title}' "
                "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
            )
            return
        conn.exec_driver_sql(
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.title = '{title}' THEN RAISE EXCEPTION 'refused by trigger' "
            "USING ERRCODE = 'check_violation'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON articles FOR EACH ROW EXECUTE FUNCTION refuse()"
        )


def test_a_feed_the_database_refuses_is_rolled_back_and_counts_for_nothing(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "refused.xml").write_bytes(
        rss(("Stored first", "https://refused.example/1"), ("Refused", "https://refused.example/2"))
    )
    (tmp_path / "fine.xml").write_bytes(rss(("Fine", "https://fine.example/1")))
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {name: refused, url: refused.xml}\n  - {name: fine, url: fine.xml}\n",
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(tmp_path / "feeds.yaml"), NOW)
    refuse_inserts_titled(engine, "Refused")

    report = ingest(engine, settings, now=NOW)

    reason = "the database refused this feed's entries (refused by trigger)"
    assert (report.feeds, report.failed, report.entries, report.new_articles) == (2, 1, 1, 1)
    assert report.errors == {"refused": reason}
    with session_scope(engine) as session:
        assert set(session.scalars(select(Article.title))) == {"Fine"}
        refused = session.scalars(select(Feed).where(Feed.name == "refused")).one()
        assert (refused.error_count, refused.last_error, refused.last_success_at) == (
            1,
            reason,
            None,
        )


def test_a_reprint_never_points_at_an_article_a_rolled_back_feed_stored(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """The wire's transaction inserts its story, then is refused and rolled back; the
    reprint index must forget that story, or the paper's copy of it points at an article
    that was never stored (PostgreSQL: a foreign key failure charged to the paper; SQLite,
    which hands the rolled-back id to the next row: the copy marked a copy of itself)."""
    (tmp_path / "wire.xml").write_bytes(
        doc(
            item("Storm nears coast", "https://wire.example/1", WIRE),
            item("Refused", "https://wire.example/2", "A text the database refuses."),
        )
    )
    (tmp_path / "paper.xml").write_bytes(
        doc(item("Storm nears coast", "https://paper.example/a", WIRE))
    )
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {name: wire, url: wire.xml}\n  - {name: paper, url: paper.xml}\n",
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(tmp_path / "feeds.yaml"), NOW)
    refuse_inserts_titled(engine, "Refused")

    report = ingest(engine, settings, now=NOW)

    assert set(report.errors) == {"wire"}
    assert (report.new_articles, report.reprints) == (1, 0)
    with session_scope(engine) as session:
        stored = session.scalars(select(Article)).one()
        paper = session.scalars(select(Feed).where(Feed.name == "paper")).one()
        assert (stored.url, stored.duplicate_of_id) == ("https://paper.example/a", None)
        assert (paper.error_count, paper.last_error) == (0, None)


def fail_the_database_once_articles_are_written(engine: Engine, pg_admin: Engine) -> list[str]:
    """Make our own database fail in the middle of the first feed's transaction, the way it
    does in production: on SQLite the disk fills (``max_page_count`` held at the file's
    size, so new rows find no room while rewriting a feed's row still fits); on PostgreSQL
    the server ends the connection once articles have been inserted (a restart, a
    failover). Returns the list the faults are noted in."""
    from sqlalchemy import event

    faults: list[str] = []
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

        @event.listens_for(engine, "connect")
        def full_disk(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count={pages}")
            faults.append("disk full")

        engine.dispose()  # connections from now on see the full disk
        return faults

    @event.listens_for(engine, "after_cursor_execute")
    def end_connection(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if faults or not statement.startswith("INSERT INTO articles"):
            return
        pid = conn.connection.dbapi_connection.info.backend_pid
        with pg_admin.connect() as admin:
            admin.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        faults.append("connection ended")

    return faults


def test_a_fault_of_our_own_database_stops_the_run_and_charges_no_feed(
    engine: Engine, settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    many = [item(f"Story {n}", f"https://first.example/{n}", WIRE + f" {n}") for n in range(40)]
    (tmp_path / "first.xml").write_bytes(doc(*many))
    (tmp_path / "second.xml").write_bytes(rss(("Fine", "https://fine.example/1")))
    (tmp_path / "feeds.yaml").write_text(
        "feeds:\n  - {name: first, url: first.xml}\n  - {name: second, url: second.xml}\n",
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(tmp_path / "feeds.yaml"), NOW)
    undisturbed = {f"https://first.example/{n}" for n in range(40)} | {"https://fine.example/1"}
    pg_admin = request.getfixturevalue("pg_admin") if engine.dialect.name != "sqlite" else None
    faults = fail_the_database_once_articles_are_written(engine, pg_admin)  # type: ignore[arg-type]

    with pytest.raises(DatabaseError) as raised:
        ingest(engine, settings, now=NOW)

    assert faults
    message = str(raised.value)
    assert "failed while storing feed 'first'" in message
    assert "0 of 2 due feeds were stored, the others are untouched and still due" in message
    assert message.endswith("then rerun")
    engine.dispose()  # its listeners keep the fault; a fresh engine sees the database freed
    healthy = make_engine(str(settings.database_url))
    try:
        with session_scope(healthy) as session:
            feeds = session.scalars(select(Feed).order_by(Feed.name)).all()
            # Nothing charged to any feed: no error, no backoff, all still due.
            assert [(f.name, f.error_count, f.last_error, f.next_check_at) for f in feeds] == [
                ("first", 0, None, None),
                ("second", 0, None, None),
            ]
            assert session.scalar(select(func.count()).select_from(Article)) == 0
        # A plain rerun, the fault gone, stores everything: no --force needed.
        report = ingest(healthy, settings, now=NOW + timedelta(minutes=15))
        assert (report.failed, report.new_articles) == (0, 41)
        with session_scope(healthy) as session:
            assert set(session.scalars(select(Article.url))) == undisturbed
    finally:
        healthy.dispose()


@pytest.mark.parametrize(
    ("teaser_max_chars", "expected"),
    [
        (1000, {"Auto": "pending", "Never": None, "Always": "pending"}),
        (3, {"Auto": None, "Never": None, "Always": "pending"}),
    ],
    ids=["text-is-a-teaser", "text-is-long-enough"],
)
def test_teasers_wait_for_their_page_as_the_registry_says(
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    teaser_max_chars: int,
    expected: dict[str, str | None],
) -> None:
    """An article whose feed text ("Text.", 5 characters) is a teaser is ``pending`` for the
    extract stage under ``full_text: auto``; ``never`` leaves it alone, ``always`` wants
    every page. A local feed file's entries link to the web like any other's."""
    for name, host in (("auto", "a"), ("never", "n"), ("always", "w")):
        (tmp_path / f"{name}.xml").write_bytes(rss((name.title(), f"https://{host}.example/1")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        "feeds:\n"
        "  - {name: auto, url: auto.xml}\n"
        "  - {name: never, url: never.xml, full_text: never}\n"
        "  - {name: always, url: always.xml, full_text: always}\n",
        encoding="utf-8",
    )
    with session_scope(engine) as session:
        sync_feeds(session, load_feeds_file(feeds), NOW)
        assert session.scalars(select(Feed.full_text).order_by(Feed.id)).all() == [
            "auto",
            "never",
            "always",
        ]
    ingest(engine, settings.model_copy(update={"teaser_max_chars": teaser_max_chars}), now=NOW)
    with session_scope(engine) as session:
        states = dict(session.execute(select(Article.title, Article.extract_state)).all())
    assert states == expected

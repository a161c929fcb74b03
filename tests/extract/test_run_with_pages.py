"""The text stage as a user runs it: `storyline ingest` then `storyline extract` against a real
local site serving a teaser feed, its article pages, and the traps a crawler meets (a path
robots.txt forbids, a 404, a PDF, a consent wall, an index page of other headlines)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from models import Article
from pipeline.cli import cli
from pipeline.db import make_engine, session_scope
from tests.extract.test_stage import BODY, TEASER, TITLE, page
from tests.feedserver import FeedServer

HTML = {"Content-Type": "text/html; charset=utf-8"}
CONSENT = (
    b"<html><head><title>Before you continue</title></head><body><h1>We value your privacy"
    b"</h1><p>We and our partners use cookies to store and access information on your "
    b"device. Accept all cookies or manage your choices.</p><button>Accept all</button>"
    b"</body></html>"
)
INDEX = (
    "<html><head><title>World news | The Courier</title></head><body><h1>World</h1><ul>"
    + "".join(
        f"<li><a href='/n/{n}'>Headline number {n} about another event entirely</a></li>"
        for n in range(40)
    )
    + "</ul></body></html>"
).encode()
# path -> (title, what the server answers there)
ITEMS = {
    "/news/raid": (TITLE, "article"),
    "/news/world": ("World leaders meet in Antalya for the G20 summit", "index"),
    "/private/memo": ("Internal memo on the raid", "robots"),
    "/news/gone": ("A story the site took down", "404"),
    "/files/report.pdf": ("The prosecutor's report in full", "pdf"),
    "/news/consent": ("Paris attacks: what we know so far", "consent"),
}


def feed(server: FeedServer) -> bytes:
    items = "".join(
        f"<item><title>{title}</title><link>{server.url(path)}</link><guid>{path}</guid>"
        f"<pubDate>Wed, 18 Nov 2015 08:00:00 GMT</pubDate><description>{TEASER}</description>"
        "</item>"
        for path, (title, _) in ITEMS.items()
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>C</title>{items}</channel></rss>'.encode()


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.route("/feed.xml", feed(server), headers={"Content-Type": "application/rss+xml"})
        server.route("/robots.txt", b"User-agent: *\nDisallow: /private/\n")
        server.route("/news/raid", page(TITLE, BODY), headers=HTML)
        server.route("/news/world", INDEX, headers=HTML)
        server.route("/private/memo", page("Internal memo on the raid"), headers=HTML)
        server.route(
            "/files/report.pdf",
            b"%PDF-1.7\n" + b"0" * 100_000,
            headers={"Content-Type": "application/pdf"},
        )
        server.route("/news/consent", CONSENT, headers=HTML)
        yield server


def storyline(db: str, *args: str) -> dict[str, object]:
    env = {"STORYLINE_PAGE_ALLOW_PRIVATE_ADDRESSES": "true", "STORYLINE_DATABASE_URL": db}
    result = CliRunner(env=env).invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_teasers_get_their_page_and_traps_are_recorded_with_why(
    site: FeedServer, db_url: str, tmp_path: Path
) -> None:
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - {{name: courier, url: '{site.url('/feed.xml')}'}}\n")
    storyline(db_url, "init")
    storyline(db_url, "feeds", "sync", str(feeds))
    assert storyline(db_url, "ingest")["new_articles"] == len(ITEMS)
    report = storyline(db_url, "extract")
    assert (report["articles"], report["ok"], report["kept"], report["skipped"]) == (6, 1, 2, 3)
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            rows = session.execute(
                select(Article.url, Article.extract_state, Article.extract_reason, Article.body)
            ).all()
    finally:
        engine.dispose()
    outcome = {"/".join(str(url).split("/")[-2:]): row for url, *row in rows}
    assert outcome["private/memo"][:2] == ["skipped", "robots"]
    assert outcome["news/gone"][:2] == ["skipped", "http 404"]
    assert outcome["files/report.pdf"][:2] == ["skipped", "not-html"]
    for kept in ("news/world", "news/consent"):
        assert outcome[kept][0] == "kept"
        assert outcome[kept][2] is None
    state, reason, body = outcome["news/raid"]
    assert (state, reason) == ("ok", "ok")
    assert body is not None
    assert "Seven people were arrested" in body
    assert "newsletter" not in body
    # Polite: robots.txt read once, the forbidden page and the PDF's body never fetched.
    assert len(site.requests_for("/robots.txt")) == 1
    assert site.requests_for("/private/memo") == []
    agents = {request.headers["user-agent"] for request in site.requests}
    assert all(agent.startswith("Storyline/") for agent in agents)
    # A rerun asks for nothing: every outcome is final.
    site.clear_requests()
    assert storyline(db_url, "extract")["articles"] == 0
    assert site.requests == []


def test_extract_exits_3_when_no_page_can_be_reached(db_url: str, tmp_path: Path) -> None:
    """Every page on a host that refuses connections: an outage a cron job must see (exit
    3, one sentence); the pages wait for their next try, nothing is lost."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>C</title>'
        f"<item><title>{TITLE}</title><link>http://127.0.0.1:{closed}/news/raid</link>"
        f"<description>{TEASER}</description></item></channel></rss>",
        encoding="utf-8",
    )
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  - {name: courier, url: feed.xml}\n", encoding="utf-8")
    storyline(db_url, "init")
    storyline(db_url, "feeds", "sync", str(feeds))
    storyline(db_url, "ingest")
    env = {"STORYLINE_PAGE_ALLOW_PRIVATE_ADDRESSES": "true", "STORYLINE_DATABASE_URL": db_url}
    result = CliRunner(env=env).invoke(cli, ["extract"])
    assert result.exit_code == 3, result.output
    assert "none of the 1 article pages could be reached" in result.stderr
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            state, attempts = session.execute(
                select(Article.extract_state, Article.extract_attempts)
            ).one()
    finally:
        engine.dispose()
    assert (state, attempts) == ("pending", 1)

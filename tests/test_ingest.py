from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select

from models import Article, Feed
from pipeline.db import session_scope
from pipeline.feeds import load_feeds_file, sync_feeds
from pipeline.ingest import ingest
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

    again = ingest(engine, settings, client=client, now=NOW)
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

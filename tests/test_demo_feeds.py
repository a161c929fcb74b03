"""The demo feeds re-dated to the present and served over HTTP (``storyline demo-feeds``).

Re-dating and the shift are checked as pure functions (feedparser reads the results); the
server over real local HTTP; then the served feeds through ``feeds sync`` and ``ingest`` into
SQLite, twice, from servers started with different shifts. No embedding or clustering here.
"""

from __future__ import annotations

import calendar
import re
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx
import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine
from sqlalchemy import select as sql_select

from models import Article, Feed
from pipeline.cli import cli
from pipeline.db import make_engine, migrate, session_scope
from pipeline.demo.server import (
    DemoFeed,
    DemoFeedServer,
    demo_shift,
    document_dates,
    feed_path,
    feeds_file_text,
    load_demo_feeds,
    newest_date,
    shift_document,
    start_server,
)
from pipeline.ingest.feeds import load_feeds_file, sync_feeds
from pipeline.ingest.stage import ingest
from pipeline.settings import Settings

NOW = datetime(2026, 3, 1, 10, 17, 42, tzinfo=UTC)
DEMO = load_demo_feeds()
LABELS: dict[str, str] = yaml.safe_load(
    (Path(__file__).parent / "fixtures" / "demo_labels.yaml").read_text(encoding="utf-8")
)["labels"]
ROOT = Path(__file__).resolve().parent.parent

# --- re-dating, value by value ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("element", "shift", "expected"),
    [
        (
            "<pubDate>Wed, 18 Nov 2015 11:05:00 GMT</pubDate>",
            timedelta(hours=24),
            "<pubDate>Thu, 19 Nov 2015 11:05:00 GMT</pubDate>",
        ),
        (
            "<pubDate>Wed, 18 Nov 2015 09:00:00 -0500</pubDate>",
            timedelta(hours=20),
            "<pubDate>Thu, 19 Nov 2015 05:00:00 -0500</pubDate>",
        ),
        (
            "<lastBuildDate>Wed, 18 Nov 2015 13:45:00 +0000</lastBuildDate>",
            -timedelta(hours=14),
            "<lastBuildDate>Tue, 17 Nov 2015 23:45:00 +0000</lastBuildDate>",
        ),
        (
            "<pubDate>8 Nov 15 9:05 EST</pubDate>",
            timedelta(days=2),
            "<pubDate>10 Nov 15 09:05 EST</pubDate>",
        ),
        (
            "<pubDate>Sat, 27 Feb 2016 23:30:00 GMT</pubDate>",
            timedelta(days=2),
            "<pubDate>Mon, 29 Feb 2016 23:30:00 GMT</pubDate>",
        ),
        (
            "<published>2015-11-18T16:40:00+01:00</published>",
            timedelta(hours=8),
            "<published>2015-11-19T00:40:00+01:00</published>",
        ),
        (
            "<updated>2015-12-31T23:20:00Z</updated>",
            timedelta(hours=1),
            "<updated>2016-01-01T00:20:00Z</updated>",
        ),
        (
            "<dc:date>2015-11-18T15:30:00.250+0530</dc:date>",
            timedelta(hours=3, microseconds=1000),
            "<dc:date>2015-11-18T18:30:00.251+0530</dc:date>",
        ),
        (
            "<dc:date>2015-11-18T15:30</dc:date>",
            timedelta(hours=10),
            "<dc:date>2015-11-19T01:30</dc:date>",
        ),
        (
            "<atom:updated>\n  2015-11-18T17:20:00Z  \n</atom:updated>",
            timedelta(hours=1),
            "<atom:updated>\n  2015-11-18T18:20:00Z  \n</atom:updated>",
        ),
        (
            '<updated type="text">2015-11-18T17:20:00Z</updated>',
            timedelta(hours=1),
            '<updated type="text">2015-11-18T18:20:00Z</updated>',
        ),
        (
            "<pubDate>yesterday</pubDate>",
            timedelta(hours=1),
            "<pubDate>yesterday</pubDate>",
        ),
        (
            "<description><![CDATA[<pubDate>Wed, 18 Nov 2015 11:05:00 GMT</pubDate>]]></description>",
            timedelta(hours=1),
            "<description><![CDATA[<pubDate>Wed, 18 Nov 2015 11:05:00 GMT</pubDate>]]></description>",
        ),
        (
            "<description>&lt;updated&gt;2015-11-18T17:20:00Z&lt;/updated&gt;</description>",
            timedelta(hours=1),
            "<description>&lt;updated&gt;2015-11-18T17:20:00Z&lt;/updated&gt;</description>",
        ),
        (
            "<!-- <updated>2015-11-18T17:20:00Z</updated> --><updated/>",
            timedelta(hours=1),
            "<!-- <updated>2015-11-18T17:20:00Z</updated> --><updated/>",
        ),
        (
            "<date>2015-11-18T17:20:00Z</date>",
            timedelta(hours=1),
            "<date>2015-11-18T17:20:00Z</date>",
        ),
    ],
    ids=[
        "rss-gmt-weekday-follows",
        "rss-negative-offset",
        "rss-backwards",
        "rss-no-weekday-two-digit-year-named-zone",
        "rss-leap-day",
        "atom-offset-crosses-midnight",
        "atom-z-crosses-the-year",
        "dc-fraction-basic-offset",
        "dc-no-seconds-no-zone",
        "whitespace-around-the-value-kept",
        "attributes-kept",
        "not-a-date-unchanged",
        "cdata-untouched",
        "escaped-markup-untouched",
        "comment-and-empty-element-untouched",
        "unprefixed-date-is-not-dublin-core",
    ],
)
def test_shift_rewrites_the_value_in_its_own_format(
    element: str, shift: timedelta, expected: str
) -> None:
    assert shift_document(element.encode(), shift) == expected.encode()


# --- re-dating the six demo documents --------------------------------------------------------

DATE_ELEMENT = re.compile(rb"(<(pubDate|lastBuildDate|published|updated|dc:date)>)[^<]*(</\2>)")
DATE_KEYS = ("published_parsed", "updated_parsed", "created_parsed")


def dates_of(parsed: Any) -> dict[str, int]:
    """The dates feedparser found in one entry (or the feed's header), as Unix times."""
    return {key: calendar.timegm(parsed[key]) for key in DATE_KEYS if parsed.get(key)}


@pytest.mark.parametrize(
    "shift",
    [demo_shift(newest_date(DEMO), NOW), timedelta(days=103, hours=-7)],
    ids=["to-now", "to-a-leap-day-backwards-in-hours"],
)
@pytest.mark.parametrize("feed", DEMO, ids=[feed.spec.name for feed in DEMO])
def test_every_date_of_a_demo_feed_moves_by_exactly_the_shift(
    feed: DemoFeed, shift: timedelta
) -> None:
    shifted = shift_document(feed.document, shift)
    before, after = feedparser.parse(feed.document), feedparser.parse(shifted)
    assert not after.bozo, after.get("bozo_exception")
    assert len(after.entries) == len(before.entries) > 0
    seconds = int(shift.total_seconds())
    pairs = [(before.feed, after.feed), *zip(before.entries, after.entries, strict=True)]
    for old, new in pairs:
        old_dates, new_dates = dates_of(old), dates_of(new)
        assert new_dates.keys() == old_dates.keys()
        assert {key: new_dates[key] - old_dates[key] for key in old_dates} == dict.fromkeys(
            old_dates, seconds
        )
    assert all(dates_of(entry) for entry in after.entries), "an entry lost its date"
    # Every date element changed, and nothing else did.
    old_values = [m[0] for m in DATE_ELEMENT.finditer(feed.document)]
    new_values = [m[0] for m in DATE_ELEMENT.finditer(shifted)]
    assert len(new_values) == len(old_values) == len(document_dates(feed.document))
    assert all(a != b for a, b in zip(old_values, new_values, strict=True))
    assert DATE_ELEMENT.sub(rb"\1\3", shifted) == DATE_ELEMENT.sub(rb"\1\3", feed.document)


# --- the shift -------------------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("newest", "now", "hour_now_began", "hour_after_newest"),
    [
        ("2015-11-18T17:20:00Z", "2026-03-01T10:17:42Z", "2026-03-01T10:00Z", "2015-11-18T18:00Z"),
        ("2015-11-18T17:20:00Z", "2026-03-01T10:00:00Z", "2026-03-01T10:00Z", "2015-11-18T18:00Z"),
        (
            "2015-11-18T17:20:00Z",
            "2026-03-01T10:59:59.999999Z",
            "2026-03-01T10:00Z",
            "2015-11-18T18:00Z",
        ),
        ("2015-11-18T18:00:00Z", "2026-03-01T10:17:00Z", "2026-03-01T10:00Z", "2015-11-18T18:00Z"),
        (
            "2015-11-18T18:00:00.000001Z",
            "2026-03-01T10:17:00Z",
            "2026-03-01T10:00Z",
            "2015-11-18T19:00Z",
        ),
        (
            "2015-11-18T18:20:00+01:00",
            "2026-03-01T15:47:00+05:30",
            "2026-03-01T10:00Z",
            "2015-11-18T18:00Z",
        ),
        ("2026-03-01T12:30:00Z", "2026-03-01T10:17:00Z", "2026-03-01T10:00Z", "2026-03-01T13:00Z"),
    ],
    ids=[
        "mid-hour",
        "now-exactly-on-the-hour",
        "last-microsecond-of-the-hour",
        "newest-exactly-on-the-hour",
        "newest-just-past-the-hour",
        "other-offsets-count-in-utc",
        "newest-in-the-future-of-now",
    ],
)
def test_shift_moves_the_newest_date_to_just_before_this_hour(
    newest: str, now: str, hour_now_began: str, hour_after_newest: str
) -> None:
    shift = demo_shift(at(newest), at(now))
    assert shift == at(hour_now_began) - at(hour_after_newest)
    assert shift % timedelta(hours=1) == timedelta(0)
    landed = at(newest) + shift
    assert at(hour_now_began) - timedelta(hours=1) < landed <= at(hour_now_began) <= at(now)


def test_shift_is_the_same_all_hour_and_moves_with_the_clock() -> None:
    newest = newest_date(DEMO)
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    shifts = {demo_shift(newest, hour + timedelta(minutes=m)) for m in (0, 1, 30, 59)}
    assert len(shifts) == 1
    assert demo_shift(newest, hour + timedelta(hours=5)) == shifts.pop() + timedelta(hours=5)


def test_demo_news_fits_the_clustering_window_with_no_date_in_the_future() -> None:
    shift = demo_shift(newest_date(DEMO), NOW)
    dates = [moment + shift for feed in DEMO for moment in document_dates(feed.document)]
    window = timedelta(hours=Settings.model_fields["window_hours"].default)
    assert max(dates) <= NOW
    # About 69 hours of news, ending under an hour before the current hour began.
    assert NOW - window < min(dates)


# --- the server over local HTTP --------------------------------------------------------------


@contextmanager
def running(server: DemoFeedServer) -> Iterator[DemoFeedServer]:
    # A short poll keeps shutdown() quick; the CLI keeps the default.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def served() -> Iterator[DemoFeedServer]:
    with running(start_server("127.0.0.1", 0, now=NOW)) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as http:
        yield http


@pytest.mark.parametrize(
    ("feed", "media_type"),
    [
        (DEMO[0], "application/rss+xml"),
        (DEMO[1], "application/rss+xml"),
        (DEMO[2], "application/atom+xml"),
        (DEMO[3], "application/atom+xml"),
        (DEMO[4], "application/rdf+xml"),
        (DEMO[5], "application/rss+xml"),
    ],
    ids=[feed.spec.name for feed in DEMO],
)
def test_feed_is_served_re_dated_with_validators(
    served: DemoFeedServer, client: httpx.Client, feed: DemoFeed, media_type: str
) -> None:
    url = served.url + feed_path(feed.spec.name)
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{media_type}; charset=utf-8"
    assert response.content == shift_document(feed.document, served.site.shift)
    etag, last_modified = response.headers["etag"], response.headers["last-modified"]
    assert re.fullmatch(r'"[0-9a-f]+"', etag)
    assert last_modified.endswith(" GMT")

    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert client.get(url, headers={"If-Modified-Since": last_modified}).status_code == 304
    unchanged = client.get(url, headers={"If-None-Match": etag})
    assert (unchanged.content, unchanged.headers["etag"]) == (b"", etag)
    # If-None-Match decides when both are sent (RFC 9110): a stale ETag gets the document.
    stale = client.get(url, headers={"If-None-Match": '"old"', "If-Modified-Since": last_modified})
    assert stale.status_code == 200
    assert client.get(url).headers["etag"] == etag  # the same shift for every fetch
    head = client.head(url)
    assert (head.status_code, head.content, head.headers["content-length"]) == (
        200,
        b"",
        str(len(response.content)),
    )


@pytest.mark.parametrize(
    "path",
    ["/", "/nope.xml", "/northern_courier.xml", "/feeds.yaml/x", "/Feeds.yaml"],
    ids=["root", "unknown", "the-file-name-not-the-feed-name", "below-a-file", "case-matters"],
)
def test_anything_else_is_404(served: DemoFeedServer, client: httpx.Client, path: str) -> None:
    response = client.get(served.url + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")


def test_feeds_file_lists_the_served_feeds(
    served: DemoFeedServer, client: httpx.Client, tmp_path: Path
) -> None:
    response = client.get(served.url + "/feeds.yaml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/yaml")
    path = tmp_path / "demo-feeds.yaml"
    path.write_bytes(response.content)
    specs = load_feeds_file(path)
    bundled = [feed.spec for feed in DEMO]
    assert [(s.name, s.outlet, s.language, s.enabled) for s in specs] == [
        (s.name, s.outlet, s.language, s.enabled) for s in bundled
    ]
    assert [s.url for s in specs] == [served.url + f"/{s.name}.xml" for s in bundled]
    assert all(client.get(spec.url).status_code == 200 for spec in specs)


def test_public_url_is_what_the_feeds_file_names(client: httpx.Client) -> None:
    with running(start_server("127.0.0.1", 0, public_url="http://demo-feeds:8090/")) as server:
        listing = yaml.safe_load(client.get(server.url + "/feeds.yaml").text)
    assert {feed["url"] for feed in listing["feeds"]} == {
        f"http://demo-feeds:8090/{feed.spec.name}.xml" for feed in DEMO
    }


def test_server_writes_nothing_to_stderr(
    served: DemoFeedServer, client: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    client.get(served.url + "/feeds.yaml")
    client.get(served.url + "/nope")
    with socket.create_connection(("127.0.0.1", served.server_port)) as raw:
        raw.sendall(b"NONSENSE\r\n\r\n")  # a malformed request line
        raw.recv(1024)
    assert capfd.readouterr().err == ""


# --- end to end: feeds sync and ingest, then a restart with another shift --------------------


def stored(engine: Engine) -> dict[str, tuple[datetime, bool]]:
    with session_scope(engine) as session:
        rows = session.execute(
            sql_select(Article.guid, Article.published_at, Article.published_estimated)
        ).all()
    return {guid: (published.replace(tzinfo=UTC), estimated) for guid, published, estimated in rows}


def test_served_demo_lands_in_the_window_and_a_restart_adds_nothing(
    tmp_path: Path, client: httpx.Client
) -> None:
    db_url = f"sqlite:///{tmp_path / 'stories.db'}"
    engine = make_engine(db_url)
    migrate(engine)
    settings = Settings.load(database_url=db_url)
    feeds_file = tmp_path / "demo-feeds.yaml"

    def sync(server: DemoFeedServer, now: datetime) -> tuple[int, int, int]:
        feeds_file.write_bytes(client.get(server.site.feeds_url).content)
        with session_scope(engine) as session:
            result = sync_feeds(session, load_feeds_file(feeds_file), now)
        return result.added, result.updated, result.unchanged

    with running(start_server("127.0.0.1", 0, now=NOW)) as first:
        assert sync(first, NOW) == (6, 0, 0)
        report = ingest(engine, settings, now=NOW)
    assert (report.feeds, report.failed, report.new_articles) == (6, 0, len(LABELS))
    articles = stored(engine)
    assert set(articles) == set(LABELS)
    window = timedelta(hours=settings.window_hours)
    assert all(NOW - window < published <= NOW for published, _ in articles.values())
    assert not any(estimated for _, estimated in articles.values()), "a date was in the future"

    # A restart five hours later (same address) serves every date five hours later.
    later = NOW + timedelta(hours=5)
    port = first.server_address[1]
    with running(start_server("127.0.0.1", port, now=later)) as second:
        assert second.site.shift == first.site.shift + timedelta(hours=5)
        assert sync(second, later) == (0, 0, 6)
        again = ingest(engine, settings, now=later, force=True)
    # Fetched and parsed in full (new ETags), matched by guid and content hash: no change.
    assert (again.feeds, again.failed, again.not_modified) == (6, 0, 0)
    assert again.entries == report.entries
    assert (again.new_articles, again.updated_articles) == (0, 0)
    assert stored(engine) == articles
    engine.dispose()


# --- the command line ------------------------------------------------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--write-feeds", "{tmp}/no-such-folder/demo-feeds.yaml"], "cannot write feeds file"),
        (["--write-feeds", "{tmp}"], "cannot write feeds file"),
        (["--port", "{busy}"], "cannot serve the demo feeds on 127.0.0.1:"),
        (["--host", "192.0.2.1"], "cannot serve the demo feeds on 192.0.2.1:"),
        (["--public-url", "demo-feeds:8090"], "is not an http(s) URL"),
    ],
    ids=[
        "unwritable-feeds-file",
        "feeds-file-is-a-folder",
        "port-in-use",
        "not-our-address",
        "bad-public-url",
    ],
)
def test_demo_feeds_errors_are_one_sentence(
    args: list[str], message: str, tmp_path: Path, busy_port: int
) -> None:
    argv = [arg.format(tmp=tmp_path, busy=busy_port) for arg in args]
    if "--port" not in argv:
        argv += ["--port", "0"]
    result = CliRunner().invoke(cli, ["demo-feeds", *argv])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("storyline: error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def first_stderr_line(process: subprocess.Popen[str], timeout: float = 30) -> str:
    assert process.stderr is not None
    ready, _, _ = select.select([process.stderr], [], [], timeout)
    assert ready, "demo-feeds printed nothing"
    return process.stderr.readline()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_demo_feeds_serves_until_stopped(
    stop: signal.Signals, tmp_path: Path, client: httpx.Client
) -> None:
    written = tmp_path / "demo-feeds.yaml"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "demo-feeds",
            "--port",
            "0",
            "--write-feeds",
            str(written),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = first_stderr_line(process)
        found = re.search(
            r"dates moved ([+-]\d+) hours; feeds file (http://\S+/feeds\.yaml),", line
        )
        assert found, line
        assert line.startswith("demo-feeds: serving 6 demo feeds on http://127.0.0.1:")
        assert int(found[1]) > 0
        assert client.get(found[2]).text == written.read_text(encoding="utf-8")
        process.send_signal(stop)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert (out, err) == ("", "")


# --- a feeds file's local paths --------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "refused"),
    [
        ("{name: here, url: here.xml}", False),
        ("{name: gone, url: gone.xml}", True),
        ("{name: gone, url: '/opt/storyline/gone.xml'}", True),
        ("{name: folder, url: sub}", True),
        ("{name: gone, url: gone.xml, enabled: false}", False),
    ],
    ids=[
        "relative-and-present",
        "relative-and-missing",
        "absolute-and-missing",
        "a-folder",
        "disabled",
    ],
)
def test_feeds_sync_refuses_a_local_path_that_names_no_file(
    entry: str, refused: bool, tmp_path: Path
) -> None:
    (tmp_path / "here.xml").write_text("<rss/>", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  - {{name: ok, url: 'http://a.example/rss'}}\n  - {entry}\n")
    db = f"sqlite:///{tmp_path / 'stories.db'}"
    assert CliRunner().invoke(cli, ["init", "--db", db]).exit_code == 0
    result = CliRunner().invoke(cli, ["feeds", "sync", str(feeds), "--db", db])
    engine = make_engine(db)
    with session_scope(engine) as session:
        names = set(session.scalars(sql_select(Feed.name)))
    engine.dispose()
    if not refused:
        assert result.exit_code == 0, result.output
        assert len(names) == 2
        return
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    name = yaml.safe_load(entry)["name"]
    assert result.stderr.startswith(f"storyline: error: feed {name!r} points at the local file ")
    assert "does not exist; give it an http(s) URL, or put the file beside the feeds file" in (
        result.stderr
    )
    assert names == set(), "nothing is registered when one entry is refused"


def test_bundled_feeds_file_agrees_with_the_served_one() -> None:
    # pipeline/demo/feeds.yaml (local files) and the served list name the same feeds.
    served = yaml.safe_load(feeds_file_text(DEMO, "http://127.0.0.1:8090"))["feeds"]
    bundled = yaml.safe_load((ROOT / "pipeline" / "demo" / "feeds.yaml").read_text())["feeds"]
    assert [{k: v for k, v in f.items() if k != "url"} for f in served] == [
        {k: v for k, v in f.items() if k != "url"} for f in bundled
    ]

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

import pytest

from pipeline.extract.fetch import Page, PageError, RobotsRules, fetch_page, next_attempt
from pipeline.http import Resolver
from pipeline.ingest.fetch import make_client
from pipeline.settings import Settings
from tests.feedserver import BackgroundServer, FeedServer, OwnedServer, Response
from tests.hostile import STALL_PATH, SlowServer
from tests.ingest.test_fetch import PUBLIC, dns

PUBLIC_LOOPBACK = dns({"127.0.0.1": [PUBLIC]})
"""Tests have no public internet: the local servers count as public this way."""

HTML = "<html><head><title>Grève</title></head><body><p>Le texte.</p></body></html>"
LATIN1 = "text/html; charset=iso-8859-1"
HTML_TYPE = "text/html; charset=utf-8"
DISALLOW_PRIVATE = b"User-agent: *\nDisallow: /private/\n"


def fetch(
    url: str, *, resolve: Resolver = PUBLIC_LOOPBACK, **overrides: object
) -> Page | PageError:
    """``fetch_page`` with a fresh client and robots cache: the page, or the error raised."""
    return fetch_with(url, Settings.load(**overrides), resolve)


def fetch_with(
    url: str, settings: Settings, resolve: Resolver = PUBLIC_LOOPBACK
) -> Page | PageError:
    with make_client(settings) as client:
        robots = RobotsRules(client, settings, resolve=resolve)
        try:
            return fetch_page(client, url, settings, robots, resolve=resolve)
        except PageError as error:
            return error


# -- one server, one page: the table ------------------------------------------------------


@dataclass(frozen=True)
class Case:
    routes: Mapping[str, Response]
    path: str = "/page"
    settings: Mapping[str, object] = field(default_factory=dict)
    body: bytes | None = None
    """The page's body expected; ``None`` when a ``PageError`` is."""
    content_type: str | None = HTML_TYPE
    final_path: str | None = None
    reason: str = ""
    permanent: bool = True
    status: int | None = None
    robots_requests: int = 1


def html(
    body: bytes = HTML.encode(), content_type: str | None = HTML_TYPE, **headers: str
) -> Response:
    more = {name.replace("_", "-"): value for name, value in headers.items()}
    return Response(
        200, {"Content-Type": content_type, **more} if content_type is not None else more, body
    )


def status(code: int, **headers: str) -> Response:
    return Response(code, {name.replace("_", "-"): value for name, value in headers.items()}, b"no")


def robots(text: bytes, code: int = 200) -> Response:
    return Response(code, {"Content-Type": "text/plain"}, text)


PAGE = html()
BOMB = gzip.compress(b"<p>" + b" " * 20_000_000)

CASES: dict[str, Case] = {
    "html-latin1": Case(
        {"/page": html(HTML.encode("latin-1"), LATIN1)},
        body=HTML.encode("latin-1"),
        content_type=LATIN1,
    ),
    "xhtml": Case(
        {"/page": html(content_type="application/xhtml+xml")},
        body=HTML.encode(),
        content_type="application/xhtml+xml",
    ),
    "no-content-type": Case(
        {"/page": html(content_type=None)}, body=HTML.encode(), content_type=None
    ),
    "empty-content-type": Case(
        {"/page": html(content_type="")}, body=HTML.encode(), content_type=""
    ),
    "gzip": Case(
        {"/page": html(gzip.compress(HTML.encode()), content_encoding="gzip")}, body=HTML.encode()
    ),
    "redirect-same-host": Case(
        {"/old": status(301, location="/page"), "/page": PAGE},
        path="/old",
        body=HTML.encode(),
        final_path="/page",
    ),
    "robots-disallows-path": Case(
        {"/robots.txt": robots(DISALLOW_PRIVATE), "/private/a": PAGE},
        path="/private/a",
        reason="robots",
    ),
    "robots-allows-other-path": Case(
        {"/robots.txt": robots(DISALLOW_PRIVATE), "/news/a": PAGE},
        path="/news/a",
        body=HTML.encode(),
    ),
    "robots-disallows-redirect-target": Case(
        {"/robots.txt": robots(DISALLOW_PRIVATE), "/a": status(302, location="/private/a")},
        path="/a",
        reason="robots",
    ),
    "robots-names-us": Case(
        {
            "/robots.txt": robots(
                b"User-agent: *\nAllow: /\n\nUser-agent: Storyline\nDisallow: /\n"
            ),
            "/page": PAGE,
        },
        reason="robots",
    ),
    "robots-404": Case(
        {"/robots.txt": robots(b"User-agent: *\nDisallow: /\n", 404), "/page": PAGE},
        body=HTML.encode(),
    ),
    "robots-500": Case(
        {"/robots.txt": robots(b"", 500), "/page": PAGE},
        reason="robots unavailable",
        permanent=False,
    ),
    "robots-ignored-host": Case(
        {"/robots.txt": robots(b"User-agent: *\nDisallow: /\n"), "/page": PAGE},
        settings={"page_ignore_robots_hosts": ["127.0.0.1"]},
        body=HTML.encode(),
        robots_requests=0,
    ),
    "http-404": Case({"/page": status(404)}, reason="http 404", status=404),
    "http-410": Case({"/page": status(410)}, reason="http 410", status=410),
    "http-403": Case({"/page": status(403)}, reason="http 403", status=403),
    "http-500": Case({"/page": status(500)}, reason="http 500", permanent=False, status=500),
    "http-503": Case({"/page": status(503)}, reason="http 503", permanent=False, status=503),
    "http-408": Case({"/page": status(408)}, reason="http 408", permanent=False, status=408),
    "pdf": Case({"/page": html(b"%PDF-1.7", "application/pdf")}, reason="not-html", status=200),
    "image": Case({"/page": html(b"\xff\xd8\xff", "image/jpeg")}, reason="not-html", status=200),
    "video": Case({"/page": html(b"", "video/mp4")}, reason="not-html", status=200),
    "feed": Case({"/page": html(b"<rss/>", "application/rss+xml")}, reason="not-html", status=200),
    "too-large": Case(
        {"/page": html(b"<p>" + b"x" * 2000)},
        settings={"page_max_bytes": 1024},
        reason="too large",
        status=200,
    ),
    "gzip-bomb": Case(
        {"/page": html(BOMB, content_encoding="gzip")},
        settings={"page_max_bytes": 1024 * 1024},
        reason="too large",
        status=200,
    ),
    "broken-gzip": Case(
        {"/page": html(b"not gzip", content_encoding="gzip")}, reason="undecodable"
    ),
    "redirect-loop": Case(
        {"/page": status(302, location="/again"), "/again": status(302, location="/page")},
        reason="too many redirects",
    ),
    "redirect-to-file-url": Case(
        {"/page": status(302, location="file:///etc/passwd")}, reason="unsupported url"
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_fetch_page(case: Case) -> None:
    with FeedServer() as server:
        for path, response in case.routes.items():
            server.respond(path, response)
        result = fetch_with(server.url(case.path), Settings.load(**case.settings))
        if case.body is not None:
            assert result == Page(
                case.body, case.content_type, server.url(case.final_path or case.path), 200
            )
        else:
            assert isinstance(result, PageError)
            assert (result.reason, result.permanent, result.status) == (
                case.reason,
                case.permanent,
                case.status,
            )
        assert len(server.requests_for("/robots.txt")) == case.robots_requests


def test_a_page_is_asked_for_as_html_by_storyline() -> None:
    with FeedServer() as server:
        server.respond("/page", PAGE)
        fetch(server.url("/page"))
        (request,) = server.requests_for("/page")
    assert request.headers["accept"].startswith("text/html")
    assert request.headers["user-agent"].startswith("Storyline/")


# -- Retry-After ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [429, 503], ids=["429", "503"])
def test_retry_after_in_seconds(code: int) -> None:
    with FeedServer() as server:
        server.respond("/page", status(code, retry_after="120"))
        before = datetime.now(UTC)
        result = fetch(server.url("/page"))
        after = datetime.now(UTC)
    assert isinstance(result, PageError)
    assert (result.reason, result.permanent) == (f"http {code}", False)
    assert result.retry_after is not None
    assert before + timedelta(seconds=120) <= result.retry_after <= after + timedelta(seconds=120)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(timedelta(hours=2), timedelta(hours=2)), (timedelta(days=60), timedelta(days=7))],
    ids=["in-two-hours", "capped-at-a-week"],
)
def test_retry_after_as_a_date(offset: timedelta, expected: timedelta) -> None:
    when = datetime.now(UTC).replace(microsecond=0) + offset
    with FeedServer() as server:
        server.respond("/page", status(429, retry_after=format_datetime(when, usegmt=True)))
        result = fetch(server.url("/page"))
    assert isinstance(result, PageError)
    assert result.retry_after is not None
    assert abs(result.retry_after - (when - offset + expected)) < timedelta(seconds=5)


@pytest.mark.parametrize("header", ["soon", "1" + "0" * 12], ids=["garbage", "past-year-9999"])
def test_an_odd_retry_after_is_no_crash(header: str) -> None:
    with FeedServer() as server:
        server.respond("/page", status(503, retry_after=header))
        result = fetch(server.url("/page"))
    assert isinstance(result, PageError)
    assert result.reason == "http 503"
    assert result.retry_after is None if header == "soon" else result.retry_after is not None


# -- private addresses -------------------------------------------------------------------


@pytest.mark.parametrize("target_host", ["localhost", "2130706433"], ids=["name", "decimal-ip"])
def test_a_redirect_from_a_public_page_to_loopback_is_refused(target_host: str) -> None:
    with FeedServer() as origin, FeedServer() as inner:
        inner.respond("/page", PAGE)
        target = f"http://{target_host}:{inner.port}/page"
        origin.respond("/page", status(302, location=target))
        result = fetch(origin.url("/page"))
    assert isinstance(result, PageError)
    assert (result.reason, result.permanent) == ("private address", True)
    assert target in str(result)
    assert inner.requests == []  # not even its robots.txt


def test_a_page_on_a_private_address_is_refused_unless_allowed() -> None:
    with FeedServer() as server:
        server.respond("/page", PAGE)
        refused = fetch(server.url("/page"), resolve=dns({}))
        assert server.requests == []
        fetched = fetch(server.url("/page"), resolve=dns({}), page_allow_private_addresses=True)
    assert isinstance(refused, PageError)
    assert refused.reason == "private address"
    assert isinstance(fetched, Page)
    assert fetched.body == HTML.encode()


def test_a_redirect_to_another_host_asks_that_host_s_robots_txt() -> None:
    with FeedServer() as origin, FeedServer() as other:
        other.respond("/robots.txt", robots(b"User-agent: *\nDisallow: /\n"))
        other.respond("/page", PAGE)
        origin.respond("/page", status(302, location=f"http://localhost:{other.port}/page"))
        result = fetch(
            origin.url("/page"), resolve=dns({"127.0.0.1": [PUBLIC], "localhost": [PUBLIC]})
        )
        assert isinstance(result, PageError)
        assert result.reason == "robots"
        assert [request.path for request in other.requests] == ["/robots.txt"]


@pytest.mark.parametrize(
    "url",
    ["ftp://news.example/a", "mailto:editor@news.example", "/relative", "http://"],
    ids=["ftp", "mailto", "relative", "no-host"],
)
def test_what_is_not_a_web_address_is_refused(url: str) -> None:
    result = fetch(url)
    assert isinstance(result, PageError)
    assert (result.reason, result.permanent) == ("unsupported url", True)


# -- connections, timeouts and bodies never read ---------------------------------------------


def test_a_refused_connection_is_transient() -> None:
    with FeedServer() as gone:
        url = gone.url("/page")
    unreachable = fetch(url, page_ignore_robots_hosts=["127.0.0.1"])
    robots_unreachable = fetch(url)
    assert isinstance(unreachable, PageError)
    assert isinstance(robots_unreachable, PageError)
    assert (unreachable.reason, unreachable.permanent) == ("connection", False)
    assert (robots_unreachable.reason, robots_unreachable.permanent) == (
        "robots unavailable",
        False,
    )


def test_headers_that_never_come_time_out() -> None:
    with SlowServer() as slow:
        started = time.monotonic()
        result = fetch(slow.url(STALL_PATH), page_timeout_seconds=0.5)
        elapsed = time.monotonic() - started
    assert isinstance(result, PageError)
    assert (result.reason, result.permanent) == ("timeout", False)
    assert elapsed < 5


class DripServer(BackgroundServer):
    """Answers any path but /robots.txt (a 404) with ``content_type``: the headers at once,
    then ``body`` in ``chunk``-byte pieces, ``interval`` apart. ``hung_up`` is set when the
    client closes the connection before the end."""

    def __init__(
        self, content_type: str, body: bytes, *, chunk: int = 1, interval: float = 0.05
    ) -> None:
        super().__init__()
        self.content_type, self.body, self.chunk, self.interval = (
            content_type,
            body,
            chunk,
            interval,
        )
        self.hung_up = threading.Event()
        self.closing = threading.Event()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _DripHandler

    def _before_stop(self) -> None:
        self.closing.set()


class _DripHandler(BaseHTTPRequestHandler):
    server: OwnedServer

    def do_GET(self) -> None:
        owner: DripServer = self.server.owner
        if self.path == "/robots.txt":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", owner.content_type)
        self.send_header("Content-Length", str(len(owner.body)))
        self.end_headers()
        for start in range(0, len(owner.body), owner.chunk):
            if owner.closing.wait(owner.interval):
                return
            try:
                self.wfile.write(owner.body[start : start + owner.chunk])
                self.wfile.flush()
            except OSError:
                owner.hung_up.set()
                return

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no access log on stderr."""


@pytest.mark.parametrize(
    "content_type", ["application/pdf", "image/jpeg; q=1"], ids=["pdf", "image"]
)
def test_a_body_that_is_not_html_is_never_read(content_type: str) -> None:
    # 200 chunks of 64 KiB, 50 ms apart: reading it would take 10 s.
    with DripServer(content_type, b"\0" * (200 * 64 * 1024), chunk=64 * 1024) as server:
        started = time.monotonic()
        result = fetch(server.url("/big"))
        elapsed = time.monotonic() - started
        assert server.hung_up.wait(5)
    assert isinstance(result, PageError)
    assert (result.reason, result.permanent, result.detail) == ("not-html", True, content_type)
    assert elapsed < 2


def test_a_page_dripping_past_the_deadline_is_cut_off() -> None:
    # One byte every 50 ms: the whole page would take 20 s, the read timeout never trips.
    with DripServer(HTML_TYPE, b"<p>" + b"x" * 400) as server:
        started = time.monotonic()
        result = fetch(server.url("/slow"), page_deadline_seconds=0.5)
        elapsed = time.monotonic() - started
        assert server.hung_up.wait(5)
    assert isinstance(result, PageError)
    assert (result.reason, result.permanent) == ("timeout", False)
    assert "page_deadline_seconds" in str(result)
    assert elapsed < 3


# -- when to try again -----------------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
BASE = 30  # minutes: page_retry_base_minutes
IN = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("attempts", "retry_after", "earliest", "latest", "overrides"),
    [
        (1, None, 0.8 * BASE, 1.2 * BASE, {}),
        (2, None, 1.6 * BASE, 2.4 * BASE, {}),
        (3, None, None, None, {}),
        (4, None, None, None, {}),
        (1, None, None, None, {"page_max_attempts": 1}),
        (5, None, 0.8 * 16 * BASE, 1.2 * 16 * BASE, {"page_max_attempts": 10}),
        (1, NOW + timedelta(hours=5), 300, 300, {}),
        (1, NOW + timedelta(minutes=1), 0.8 * BASE, 1.2 * BASE, {}),
        (1, NOW - timedelta(hours=1), 0.8 * BASE, 1.2 * BASE, {}),
        (1, NOW + timedelta(days=60), 7 * 24 * 60, 7 * 24 * 60, {}),
        (3, NOW + timedelta(hours=5), None, None, {}),
    ],
    ids=[
        "first-failure",
        "second-doubles",
        "third-gives-up",
        "past-the-last",
        "one-try-only",
        "fifth-of-ten",
        "retry-after-later",
        "retry-after-sooner",
        "retry-after-past",
        "retry-after-capped",
        "given-up-despite-retry-after",
    ],
)
def test_next_attempt(
    attempts: int,
    retry_after: datetime | None,
    earliest: float | None,
    latest: float | None,
    overrides: dict[str, object],
) -> None:
    settings = Settings.load(
        **{"page_retry_base_minutes": BASE, "page_max_attempts": 3, **overrides}
    )
    when = next_attempt(attempts, NOW, retry_after, settings, key="https://news.example/a")
    if earliest is None or latest is None:
        assert when is None
    else:
        assert when is not None
        assert NOW + earliest * IN <= when <= NOW + latest * IN


def test_next_attempt_jitter_is_deterministic_and_spreads_pages() -> None:
    settings = Settings.load(page_retry_base_minutes=BASE, page_max_attempts=3)
    times = {
        next_attempt(1, NOW, None, settings, key=f"https://news.example/{n}") for n in range(50)
    }
    assert len(times) == 50
    assert all(NOW + 0.8 * BASE * IN <= when <= NOW + 1.2 * BASE * IN for when in times if when)
    again = next_attempt(1, NOW, None, settings, key="https://news.example/7")
    assert again == next_attempt(1, NOW, None, settings, key="https://news.example/7")

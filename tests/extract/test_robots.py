from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from pipeline.extract.robots import RobotsRules, RobotsTxt, RobotsUnavailableError, product_token
from pipeline.ingest.fetch import make_client
from pipeline.settings import Settings
from tests.feedserver import FeedServer, RecordedRequest, Response
from tests.ingest.test_fetch import PUBLIC, dns

# -- the rules, without a socket ---------------------------------------------------------


@pytest.mark.parametrize(
    ("robots", "path", "allowed"),
    [
        ("", "/a", True),
        ("User-agent: *\nDisallow: /private/", "/private/a", False),
        ("User-agent: *\nDisallow: /private/", "/public/a", True),
        ("User-agent: *\nDisallow: /*.pdf$", "/files/a.pdf", False),
        ("User-agent: *\nDisallow: /*.pdf$", "/files/a.pdf?page=2", True),
        ("User-agent: *\nDisallow: /*?", "/search?q=x", False),
        ("User-agent: *\nDisallow: /*?", "/search", True),
        ("User-agent: *\nDisallow: /exact$", "/exactly", True),
        ("User-agent: *\nAllow: /\nDisallow: /private", "/private/a", False),
        ("User-agent: *\nDisallow: /news\nAllow: /news/today", "/news/today/a", True),
        ("User-agent: *\nDisallow: /news\nAllow: /news/today", "/news/other", False),
        ("User-agent: *\nDisallow: /page\nAllow: /page", "/page", True),
        ("User-agent: *\n\nDisallow: /x", "/x", False),
        ("User-agent: *\nDisallow:", "/a", True),
        ("User-agent: * # everyone\nDisallow: /x # not x", "/x", False),
        ("Disallow: /\nUser-agent: *\nDisallow: /x", "/y", True),
        ("User-agent: *\nDisallow: /", "/robots.txt", True),
        ("User-agent: *\nDisallow: /caf%C3%A9", "/caf%c3%a9/a", False),
        ("User-agent: *\nDisallow: /café", "/caf%C3%A9", False),
        ("User-agent: *\nDisallow: /a%7eb", "/a~b", False),
        ("User-agent: *\nDisallow: /\n\nUser-agent: Storyline\nDisallow: /private", "/a", True),
        ("User-agent: *\nAllow: /\n\nUser-agent: storyline\nDisallow: /news/", "/news/a", False),
        ("User-agent: Storyline/2.0\nDisallow: /x", "/x", False),
        ("User-agent: other\nUser-agent: Storyline\nDisallow: /x", "/x", False),
        (
            "User-agent: STORYLINE\nDisallow: /a\n\nUser-agent: other\nDisallow: /\n\n"
            "User-agent: storyline\nDisallow: /b",
            "/b",
            False,
        ),
        ("User-agent: Story\nDisallow: /", "/a", True),
        ("User-agent: other\nDisallow: /", "/a", True),
        ("User-agent: *\nDisallow: /a*b*c$", "/a-c-b-c", False),
        ("User-agent: *\nDisallow: /a*b*c$", "/a-c-b-c-d", True),
        ("User-agent: *\nDisallow: /a*bc*c$", "/abc", True),
        ("User-agent: *\nDisallow: /x*b*c", "/xcb", True),
        ("User-agent: *\nDisallow: /*", "/", False),
        ("User-agent: *\nDisallow: /" + "*a" * 30 + "*X", "/" + "a" * 5000, True),
    ],
    ids=[
        "empty-file",
        "disallowed-prefix",
        "other-path",
        "wildcard-and-end",
        "end-anchor-with-query",
        "wildcard-query",
        "no-query",
        "end-anchor-is-exact",
        "longest-match-not-first",
        "longer-allow-wins",
        "shorter-disallow-still-applies",
        "allow-wins-a-tie",
        "blank-line-inside-a-group",
        "empty-disallow",
        "comments",
        "rules-before-any-user-agent",
        "robots-txt-always-allowed",
        "percent-escapes-any-case",
        "non-ascii-rule",
        "unreserved-escape",
        "our-group-over-star",
        "our-group-disallows",
        "versioned-agent-line",
        "agents-sharing-a-group",
        "our-groups-combined",
        "agent-prefix-is-not-us",
        "only-others-disallowed",
        "pieces-in-turn-then-end",
        "pieces-but-not-at-the-end",
        "pieces-may-not-overlap",
        "pieces-in-order",
        "star-matches-nothing-too",
        "no-exponential-backtracking",
    ],
)
def test_rules(robots: str, path: str, allowed: bool) -> None:
    rules = RobotsTxt.parse(robots, "Storyline")
    assert rules.allows(httpx.URL("https://news.example" + path)) is allowed


@pytest.mark.parametrize(
    ("user_agent", "token"),
    [
        ("Storyline/1.4.0 (+https://github.com/storyline-news/storyline)", "Storyline"),
        ("NewsDesk/2 (+https://desk.example)", "NewsDesk"),
        ("NewsDesk", "NewsDesk"),
        ("", "Storyline"),
    ],
    ids=["default", "own", "bare", "empty"],
)
def test_product_token(user_agent: str, token: str) -> None:
    assert product_token(user_agent) == token


# -- fetching and caching robots.txt -------------------------------------------------------

PUBLIC_LOOPBACK = dns({"127.0.0.1": [PUBLIC]})


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def rules(**overrides: object) -> tuple[httpx.Client, RobotsRules]:
    settings = Settings.load(**overrides)
    client = make_client(settings)
    return client, RobotsRules(client, settings, resolve=PUBLIC_LOOPBACK)


@pytest.mark.parametrize(
    ("status", "body", "allowed"),
    [
        (200, b"User-agent: *\nDisallow: /a\n", False),
        (200, "\ufeffUser-agent: *\nDisallow: /a\n".encode(), False),
        (200, "User-agent: *\nDisallow: /a\n".encode("utf-16"), True),
        (404, b"User-agent: *\nDisallow: /\n", True),
        (401, b"", True),
        (410, b"", True),
        (500, b"", None),
        (503, b"", None),
        (429, b"", None),
    ],
    ids=[
        "200-parsed",
        "200-byte-order-mark",
        "200-not-utf-8",
        "404-no-rules",
        "401-no-rules",
        "410-no-rules",
        "500",
        "503",
        "429",
    ],
)
def test_robots_status(server: FeedServer, status: int, body: bytes, allowed: bool | None) -> None:
    server.route("/robots.txt", body, status=status, headers={"Content-Type": "text/plain"})
    client, robots = rules()
    with client:
        if allowed is None:
            with pytest.raises(RobotsUnavailableError, match=f"HTTP {status}"):
                robots.allowed(httpx.URL(server.url("/a")))
        else:
            assert robots.allowed(httpx.URL(server.url("/a"))) is allowed


def test_each_origin_is_asked_once_even_from_many_threads(server: FeedServer) -> None:
    def slow_robots(request: RecordedRequest) -> Response:
        time.sleep(0.2)  # every thread arrives while the first one waits
        return Response(200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /x/\n")

    server.respond("/robots.txt", slow_robots)
    client, robots = rules()
    urls = [httpx.URL(server.url(f"/{folder}/{n}")) for n in range(8) for folder in ("a", "x")]
    with client, ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(robots.allowed, urls))
    assert answers == [url.path.startswith("/a/") for url in urls]
    assert len(server.requests_for("/robots.txt")) == 1


def test_an_unavailable_robots_txt_is_asked_once_per_run(server: FeedServer) -> None:
    server.route("/robots.txt", status=503)
    client, robots = rules()
    with client:
        for path in ("/a", "/b"):
            with pytest.raises(RobotsUnavailableError):
                robots.allowed(httpx.URL(server.url(path)))
    assert len(server.requests_for("/robots.txt")) == 1


def test_each_port_and_scheme_has_its_own_robots_txt() -> None:
    with FeedServer() as first, FeedServer() as second:
        first.route("/robots.txt", b"User-agent: *\nDisallow: /\n")
        client, robots = rules()
        with client:
            assert robots.allowed(httpx.URL(first.url("/a"))) is False
            assert robots.allowed(httpx.URL(second.url("/a"))) is True
        assert len(first.requests_for("/robots.txt")) == 1
        assert len(second.requests_for("/robots.txt")) == 1


def test_an_ignored_host_is_not_asked(server: FeedServer) -> None:
    server.route("/robots.txt", b"User-agent: *\nDisallow: /\n")
    client, robots = rules(page_ignore_robots_hosts=["127.0.0.1"])
    with client:
        assert robots.allowed(httpx.URL(server.url("/a"))) is True
    assert server.requests == []


def test_the_ignored_hosts_are_a_comma_separated_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_PAGE_IGNORE_ROBOTS_HOSTS", " News.Example , blog.example,")
    assert Settings.load().page_ignore_robots_hosts == ["news.example", "blog.example"]


def test_robots_txt_is_read_with_our_user_agent(server: FeedServer) -> None:
    client, robots = rules(user_agent="NewsDesk/2 (+https://desk.example)")
    server.route("/robots.txt", b"User-agent: *\nDisallow: /\n\nUser-agent: newsdesk\nAllow: /\n")
    with client:
        assert robots.allowed(httpx.URL(server.url("/a"))) is True
    assert server.requests_for("/robots.txt")[0].headers["user-agent"].startswith("NewsDesk/2")


def test_a_robots_txt_redirected_to_a_private_address_is_unavailable() -> None:
    with FeedServer() as origin, FeedServer() as inner:
        target = f"http://localhost:{inner.port}/robots.txt"
        origin.route("/robots.txt", status=301, headers={"Location": target})
        client, robots = rules()
        with client, pytest.raises(RobotsUnavailableError, match="not on a public address"):
            robots.allowed(httpx.URL(origin.url("/a")))
        assert inner.requests == []


def test_a_robots_txt_redirected_elsewhere_is_followed() -> None:
    with FeedServer() as origin, FeedServer() as other:
        target = f"http://localhost:{other.port}/rules.txt"
        origin.route("/robots.txt", status=301, headers={"Location": target})
        other.route("/rules.txt", b"User-agent: *\nDisallow: /a\n")
        settings = Settings.load()
        resolve = dns({"127.0.0.1": [PUBLIC], "localhost": [PUBLIC]})
        with make_client(settings) as client:
            robots = RobotsRules(client, settings, resolve=resolve)
            assert robots.allowed(httpx.URL(origin.url("/a"))) is False
            assert robots.allowed(httpx.URL(origin.url("/b"))) is True


def test_an_unreachable_robots_txt_is_unavailable() -> None:
    with FeedServer() as gone:
        url = httpx.URL(gone.url("/a"))
    client, robots = rules()
    with client, pytest.raises(RobotsUnavailableError, match=r"unavailable: .*refused"):
        robots.allowed(url)


def test_only_the_first_512_kib_are_read(server: FeedServer) -> None:
    padding = b"# " + b"x" * (600 * 1024) + b"\n"
    server.route("/robots.txt", b"User-agent: *\nDisallow: /a\n" + padding + b"Disallow: /b\n")
    client, robots = rules()
    with client:
        assert robots.allowed(httpx.URL(server.url("/a"))) is False
        assert robots.allowed(httpx.URL(server.url("/b"))) is True


def test_a_robots_txt_in_a_redirect_loop_counts_as_none(server: FeedServer) -> None:
    server.route("/robots.txt", status=302, headers={"Location": "/robots-again.txt"})
    server.route("/robots-again.txt", status=302, headers={"Location": "/robots.txt"})
    client, robots = rules()
    with client:
        assert robots.allowed(httpx.URL(server.url("/a"))) is True
    assert len(server.requests_for("/robots.txt")) == 3  # 1 + 5 redirects, alternating

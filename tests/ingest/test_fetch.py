from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from pipeline.ingest.fetch import (
    FetchError,
    Resolver,
    fetch,
    is_public_address,
    make_client,
    resolve_host,
)
from pipeline.settings import Settings
from tests.feedserver import FeedServer

BODY = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


def mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(
        transport=httpx.MockTransport(handler),
        follow_redirects=True,
        headers={"User-Agent": "Storyline-test/1"},
    )


def test_fetch_sends_conditional_headers_and_returns_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=BODY, headers={"ETag": '"v2"'})

    result = fetch(
        mock(handler),
        "https://a.example/rss",
        max_bytes=10_000,
        etag='"v1"',
        last_modified="Wed, 18 Nov 2015 10:00:00 GMT",
    )
    assert (result.status, result.content, result.headers["etag"]) == (200, BODY, '"v2"')
    assert seen[0].headers["If-None-Match"] == '"v1"'
    assert seen[0].headers["If-Modified-Since"] == "Wed, 18 Nov 2015 10:00:00 GMT"
    assert seen[0].headers["User-Agent"] == "Storyline-test/1"


def test_not_modified_is_not_an_error() -> None:
    result = fetch(mock(lambda request: httpx.Response(304)), "https://a.example/rss", max_bytes=10)
    assert result.not_modified
    assert result.content == b""


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(404), "HTTP 404 Not Found"),
        (httpx.Response(500), "HTTP 500 Internal Server Error"),
        (httpx.Response(200, content=b"x" * 2000), "larger than 1024 bytes"),
    ],
    ids=["404", "500", "too-large"],
)
def test_http_failures_have_a_one_line_reason(response: httpx.Response, reason: str) -> None:
    with pytest.raises(FetchError, match=reason):
        fetch(mock(lambda request: response), "https://a.example/rss", max_bytes=1024)


def test_network_failure_has_a_one_line_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(FetchError, match="ConnectError: connection refused"):
        fetch(mock(handler), "https://a.example/rss", max_bytes=1024)


def test_timeout_is_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(FetchError, match="timed out"):
        fetch(mock(handler), "https://a.example/rss", max_bytes=1024)


def test_local_files(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(BODY)
    assert fetch(mock(lambda r: httpx.Response(500)), str(path), max_bytes=1024).content == BODY
    with pytest.raises(FetchError, match="larger than 10 bytes"):
        fetch(mock(lambda r: httpx.Response(500)), str(path), max_bytes=10)
    with pytest.raises(FetchError, match="cannot read file"):
        fetch(mock(lambda r: httpx.Response(500)), str(tmp_path / "missing.xml"), max_bytes=10)


# -- redirects from public to private addresses ----------------------------------------

PUBLIC = "8.8.8.8"
REFUSED = r"refused: it leads from a public address to a private one \(set STORYLINE_FETCH_ALLOW_PRIVATE_REDIRECTS=true to allow\)"


def dns(records: Mapping[str, list[str]]) -> Resolver:
    """Made-up addresses for the hosts in ``records`` (tests have no public internet, so
    a local server is made to count as public this way); other hosts resolve for real."""

    def resolve(host: str) -> list[str]:
        return list(records[host]) if host in records else resolve_host(host)

    return resolve


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(Settings.load()) as client:
        yield client


@pytest.fixture
def servers() -> Iterator[tuple[FeedServer, FeedServer]]:
    """Two servers on 127.0.0.1: the feed's, and the one its redirects may lead to."""
    with FeedServer() as origin, FeedServer() as inner:
        inner.route("/feed.xml", BODY)
        yield origin, inner


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("127.0.0.1", False),
        ("0.0.0.0", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("8.8.8.8", True),
        ("172.32.0.1", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:8.8.8.8", True),
    ],
    ids=[
        "rfc1918-10",
        "rfc1918-172.16",
        "rfc1918-172.31",
        "rfc1918-192.168",
        "link-local-metadata",
        "loopback",
        "unspecified",
        "carrier-grade-nat",
        "multicast",
        "reserved-240",
        "broadcast",
        "ipv6-loopback",
        "ipv6-unspecified",
        "ipv6-link-local",
        "ipv6-link-local-zone",
        "ipv6-unique-local",
        "ipv6-site-local",
        "ipv6-multicast",
        "ipv4-mapped-loopback",
        "ipv4-mapped-private",
        "public-ipv4",
        "just-past-172.16/12",
        "public-ipv6",
        "ipv4-mapped-public",
    ],
)
def test_address_classifier(address: str, expected: bool) -> None:
    assert is_public_address(address) is expected


def test_resolver_reads_numeric_forms_and_survives_bad_names() -> None:
    assert "127.0.0.1" in resolve_host("2130706433")
    assert "127.0.0.1" in resolve_host("0x7f.1")
    assert resolve_host("") == []
    assert resolve_host("a" * 64 + ".example") == []  # label too long: no lookup at all


@pytest.mark.parametrize("target_host", ["localhost", "2130706433"], ids=["name", "decimal-ip"])
def test_redirect_from_public_to_loopback_is_refused(
    client: httpx.Client, servers: tuple[FeedServer, FeedServer], target_host: str
) -> None:
    origin, inner = servers
    target = f"http://{target_host}:{inner.port}/feed.xml"
    origin.route("/feed.xml", status=302, headers={"Location": target})
    with pytest.raises(FetchError) as caught:
        fetch(
            client, origin.url("/feed.xml"), max_bytes=10_000, resolve=dns({"127.0.0.1": [PUBLIC]})
        )
    assert caught.value.reason == (
        f"redirect to {target} refused: it leads from a public address to a private one "
        "(set STORYLINE_FETCH_ALLOW_PRIVATE_REDIRECTS=true to allow)"
    )
    assert len(origin.requests_for("/feed.xml")) == 1
    assert inner.requests == []


@pytest.mark.parametrize("target_host", ["localhost", "2130706433"], ids=["name", "decimal-ip"])
def test_setting_allows_redirect_from_public_to_loopback(
    client: httpx.Client, servers: tuple[FeedServer, FeedServer], target_host: str
) -> None:
    origin, inner = servers
    target = f"http://{target_host}:{inner.port}/feed.xml"
    origin.route("/feed.xml", status=302, headers={"Location": target})
    result = fetch(
        client,
        origin.url("/feed.xml"),
        max_bytes=10_000,
        allow_private_redirects=True,
        resolve=dns({"127.0.0.1": [PUBLIC]}),
    )
    assert (result.content, result.final_url, result.moved_to) == (BODY, target, None)
    assert len(inner.requests_for("/feed.xml")) == 1


def test_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().fetch_allow_private_redirects is False
    monkeypatch.setenv("STORYLINE_FETCH_ALLOW_PRIVATE_REDIRECTS", "true")
    assert Settings.load().fetch_allow_private_redirects is True


def test_feed_on_loopback_may_redirect_to_localhost(
    client: httpx.Client, servers: tuple[FeedServer, FeedServer]
) -> None:
    origin, inner = servers
    target = f"http://localhost:{inner.port}/feed.xml"
    origin.route("/feed.xml", status=301, headers={"Location": target})
    result = fetch(client, origin.url("/feed.xml"), max_bytes=10_000)
    assert (result.content, result.moved_to) == (BODY, target)
    assert len(inner.requests_for("/feed.xml")) == 1


def test_public_to_public_redirects_are_followed_and_moves_learned(
    client: httpx.Client, servers: tuple[FeedServer, FeedServer]
) -> None:
    origin, inner = servers
    hop = f"http://localhost:{inner.port}/hop"
    target = f"http://localhost:{inner.port}/feed.xml"
    origin.route("/feed.xml", status=301, headers={"Location": hop})
    inner.route("/hop", status=308, headers={"Location": "/feed.xml"})
    result = fetch(
        client,
        origin.url("/feed.xml"),
        max_bytes=10_000,
        resolve=dns({"127.0.0.1": [PUBLIC], "localhost": [PUBLIC]}),
    )
    assert (result.content, result.final_url, result.moved_to) == (BODY, target, target)


def test_a_later_hop_to_loopback_is_refused(
    client: httpx.Client, servers: tuple[FeedServer, FeedServer]
) -> None:
    origin, inner = servers
    target = f"http://2130706433:{inner.port}/feed.xml"
    origin.route(
        "/feed.xml", status=302, headers={"Location": f"http://localhost:{origin.port}/hop"}
    )
    origin.route("/hop", status=302, headers={"Location": target})
    with pytest.raises(FetchError, match=REFUSED):
        fetch(
            client,
            origin.url("/feed.xml"),
            max_bytes=10_000,
            resolve=dns({"127.0.0.1": [PUBLIC], "localhost": [PUBLIC]}),
        )
    assert len(origin.requests_for("/hop")) == 1
    assert inner.requests == []


def redirecting(origin_host: str, target: str, seen: list[str]) -> httpx.Client:
    """A client on which ``origin_host`` redirects to ``target``, and ``target`` serves BODY."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == origin_host:
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, content=BODY)

    return mock(handler)


@pytest.mark.parametrize(
    ("target", "records"),
    [
        ("http://10.0.0.5/x", {}),
        ("http://172.16.8.1/x", {}),
        ("http://192.168.0.1/x", {}),
        ("http://169.254.169.254/latest/meta-data/", {}),
        ("http://100.64.0.7/x", {}),
        ("http://0.0.0.0:8080/x", {}),
        ("http://[::1]/x", {}),
        ("http://[fe80::1]/x", {}),
        ("http://[::ffff:127.0.0.1]/x", {}),
        ("http://intranet.example/x", {"intranet.example": ["10.1.2.3"]}),
        ("http://mixed.example/x", {"mixed.example": [PUBLIC, "192.168.1.9"]}),
        ("http://v6.example/x", {"v6.example": ["2606:4700:4700::1111", "fd00::5"]}),
    ],
    ids=[
        "rfc1918-10",
        "rfc1918-172.16",
        "rfc1918-192.168",
        "cloud-metadata",
        "carrier-grade-nat",
        "unspecified",
        "ipv6-loopback",
        "ipv6-link-local",
        "ipv4-mapped-loopback",
        "name-resolving-private",
        "name-with-one-private-record",
        "name-with-one-unique-local-record",
    ],
)
def test_redirect_targets_refused_from_a_public_feed(
    target: str, records: dict[str, list[str]]
) -> None:
    seen: list[str] = []
    client = redirecting("feeds.example", target, seen)
    with pytest.raises(FetchError, match=REFUSED) as caught:
        fetch(
            client,
            "https://feeds.example/rss",
            max_bytes=10_000,
            resolve=dns({"feeds.example": [PUBLIC], **records}),
        )
    assert str(httpx.URL(target)) in caught.value.reason
    assert seen == ["https://feeds.example/rss"]


@pytest.mark.parametrize(
    "addresses",
    [[PUBLIC, "10.0.0.1"], []],
    ids=["one-private-record", "no-longer-resolves"],
)
def test_a_feed_counts_as_private_only_if_all_its_addresses_are(addresses: list[str]) -> None:
    seen: list[str] = []
    client = redirecting("feeds.example", "http://10.0.0.5/x", seen)
    with pytest.raises(FetchError, match=REFUSED):
        fetch(
            client,
            "https://feeds.example/rss",
            max_bytes=10_000,
            resolve=dns({"feeds.example": addresses}),
        )
    assert seen == ["https://feeds.example/rss"]


@pytest.mark.parametrize(
    "origin",
    ["http://10.0.0.1/rss", "http://[::1]/rss", "http://localhost/rss", "http://192.168.1.1/rss"],
    ids=["rfc1918", "ipv6-loopback", "localhost", "home-router"],
)
def test_a_feed_on_a_private_address_may_redirect_anywhere(origin: str) -> None:
    seen: list[str] = []
    client = redirecting(httpx.URL(origin).host, "http://192.168.7.7/feed.xml", seen)
    result = fetch(client, origin, max_bytes=10_000)
    assert result.content == BODY
    assert seen == [origin, "http://192.168.7.7/feed.xml"]


def test_an_unresolvable_hop_fails_as_a_normal_fetch_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "feeds.example":
            return httpx.Response(302, headers={"Location": "http://nowhere.example/x"})
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    with pytest.raises(FetchError, match=r"^ConnectError: \[Errno -2\] Name or service not known$"):
        fetch(
            mock(handler),
            "https://feeds.example/rss",
            max_bytes=10_000,
            resolve=dns({"feeds.example": [PUBLIC], "nowhere.example": []}),
        )


def test_redirect_loop_is_cut_short() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": f"/{len(seen)}"})

    client = httpx.Client(transport=httpx.MockTransport(handler), max_redirects=3)
    with pytest.raises(FetchError, match=r"too many redirects \(more than 3; a redirect loop\?\)"):
        fetch(client, "http://127.0.0.1/rss", max_bytes=10_000)
    assert len(seen) == 4

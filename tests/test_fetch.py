from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pipeline.fetch import FetchError, fetch

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

"""Fetching a feed's bytes: over HTTP with httpx, or from a local file.

All network I/O goes through the ``httpx.Client`` passed in, so tests can hand in a
client bound to a local server or an ``httpx.MockTransport``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pipeline.feeds import is_remote


class FetchError(Exception):
    """The feed could not be fetched; ``reason`` is one line for the feed's ``last_error``."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Fetched:
    """What a fetch returned. ``status`` 304 means unchanged: ``content`` is empty."""

    status: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str = ""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def make_client(timeout: float, user_agent: str, max_redirects: int = 5) -> httpx.Client:
    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=max_redirects,
        headers={
            "User-Agent": user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
            "text/xml;q=0.8, */*;q=0.1",
        },
    )


def fetch(
    client: httpx.Client,
    url: str,
    *,
    max_bytes: int,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """Fetch ``url`` (``http(s)://`` or a local path) and return its bytes."""
    if not is_remote(url):
        return _read_local(Path(url), max_bytes)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(304, b"", dict(response.headers), str(response.url))
            if response.status_code >= 400:
                raise FetchError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    response.status_code,
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise FetchError(
                        f"response larger than {max_bytes} bytes (fetch_max_bytes)",
                        response.status_code,
                    )
            return Fetched(
                response.status_code, bytes(body), dict(response.headers), str(response.url)
            )
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError("too many redirects") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


def _read_local(path: Path, max_bytes: int) -> Fetched:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError(f"file larger than {max_bytes} bytes (fetch_max_bytes)")
        return Fetched(200, path.read_bytes(), {}, str(path))
    except OSError as exc:
        raise FetchError(f"cannot read file: {exc.strerror}") from exc

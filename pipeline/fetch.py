"""Fetching a feed's bytes: over HTTP with httpx, or from a local file.

All network I/O goes through the ``httpx.Client`` passed in, so tests can hand in a
client bound to a local server or an ``httpx.MockTransport``.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from pipeline.decoding import DecodingError, decode
from pipeline.feeds import is_remote
from pipeline.settings import Settings

PERMANENT_REDIRECTS = frozenset({301, 308})
ACCEPTED_ENCODINGS = ("gzip", "deflate", "br", "zstd")
RETRY_LATER = frozenset({429, 503})


class FetchError(Exception):
    """The feed could not be fetched; ``reason`` is one line for the feed's ``last_error``."""

    def __init__(self, reason: str, status: int | None = None, retry_after: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        """The raw ``Retry-After`` header of a 429 or 503, if the server sent one."""


@dataclass(frozen=True)
class Fetched:
    """What a fetch returned. ``status`` 304 means unchanged: ``content`` is empty."""

    status: int
    content: bytes
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str = ""
    moved_to: str | None = None
    """The new address when every redirect on the way was permanent (301/308)."""

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def make_client(settings: Settings) -> httpx.Client:
    """An HTTP client with the fetch settings: timeouts, redirects, User-Agent, pooling.

    Bodies are decoded by ``pipeline.decoding`` (gzip, deflate, brotli, zstd) in bounded
    slices, not by httpx, so that the size cap also holds for compression bombs.
    """
    timeout = httpx.Timeout(
        settings.fetch_timeout_seconds, connect=settings.fetch_connect_timeout_seconds
    )
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        max_redirects=settings.fetch_max_redirects,
        limits=httpx.Limits(max_connections=max(settings.fetch_concurrency, 1) * 2),
        headers={
            "User-Agent": settings.user_agent,
            "Accept": "application/rss+xml, application/atom+xml, application/rdf+xml, "
            "application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1",
            "Accept-Encoding": ", ".join(ACCEPTED_ENCODINGS),
        },
    )


def fetch(
    client: httpx.Client,
    url: str,
    *,
    max_bytes: int,
    deadline_seconds: float = 60.0,
    etag: str | None = None,
    last_modified: str | None = None,
) -> Fetched:
    """Fetch ``url`` (``http(s)://`` or a local path) and return its bytes.

    The size cap counts decoded bytes as they stream in, decoded in bounded slices, so a
    compression bomb stops at the cap; the deadline bounds the whole download, so a server
    dripping a byte at a time cannot hold a worker forever (the read timeout alone would
    not trip).
    """
    if not is_remote(url):
        return _read_local(Path(url), max_bytes)
    headers: dict[bytes, bytes] = {}
    # Validators go back byte for byte as the server sent them (httpx reads headers as
    # Latin-1 and would refuse to send a non-ASCII str back).
    if etag:
        headers[b"If-None-Match"] = _header_bytes(etag)
    if last_modified:
        headers[b"If-Modified-Since"] = _header_bytes(last_modified)
    started = time.monotonic()
    try:
        with client.stream("GET", url, headers=headers) as response:
            moved_to = _moved_to(response)
            if response.status_code == 304:
                return Fetched(304, b"", dict(response.headers), str(response.url), moved_to)
            if response.status_code >= 400:
                raise FetchError(
                    f"HTTP {response.status_code} {response.reason_phrase}".strip(),
                    response.status_code,
                    response.headers.get("retry-after")
                    if response.status_code in RETRY_LATER
                    else None,
                )
            body = bytearray()
            for chunk in _decoded(response):
                if len(body) + len(chunk) > max_bytes:
                    raise FetchError(
                        f"response larger than {max_bytes} bytes (fetch_max_bytes)",
                        response.status_code,
                    )
                body.extend(chunk)
                if time.monotonic() - started > deadline_seconds:
                    raise FetchError(
                        f"download took longer than {deadline_seconds:g} s "
                        "(fetch_deadline_seconds)",
                        response.status_code,
                    )
            return Fetched(
                response.status_code,
                bytes(body),
                dict(response.headers),
                str(response.url),
                moved_to,
            )
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from exc
    except httpx.TooManyRedirects as exc:
        raise FetchError("too many redirects (a redirect loop?)") from exc
    except (httpx.DecodingError, DecodingError) as exc:
        raise FetchError(f"cannot decode the compressed response ({exc})") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    if response.is_stream_consumed:
        # A body handed over whole (a transport that is not a network, e.g. MockTransport)
        # was already read, and decoded, by httpx.
        return decode(None, [response.content])
    return decode(response.headers.get("content-encoding"), response.iter_raw())


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _moved_to(response: httpx.Response) -> str | None:
    if response.history and all(
        step.status_code in PERMANENT_REDIRECTS for step in response.history
    ):
        return str(response.url)
    return None


def _read_local(path: Path, max_bytes: int) -> Fetched:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError(f"file larger than {max_bytes} bytes (fetch_max_bytes)")
        return Fetched(200, path.read_bytes(), {}, str(path))
    except OSError as exc:
        raise FetchError(f"cannot read file: {exc.strerror}") from exc


class HostLimits:
    """At most ``per_host`` fetches at a time to any one host, so no publisher is hammered."""

    def __init__(self, per_host: int) -> None:
        self._per_host = per_host
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = defaultdict(
            lambda: threading.BoundedSemaphore(self._per_host)
        )

    @contextmanager
    def slot(self, url: str) -> Iterator[None]:
        host = (urlsplit(url).hostname or "") if is_remote(url) else ""
        with self._lock:
            semaphore = self._slots[host]
        with semaphore:
            yield

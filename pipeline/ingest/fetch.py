"""Fetching a feed's bytes: over HTTP with httpx, or from a local file.

All network I/O goes through the ``httpx.Client`` passed in, so tests can hand in a
client bound to a local server or an ``httpx.MockTransport``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from pipeline.http import (
    HostLimits,
    PrivateAddressError,
    RedirectVetting,
    RefusalError,
    Resolver,
    TooLargeError,
    TooManyRedirectsError,
    TooSlowError,
    follow_redirects,
    is_public_address,
    read_body,
    resolve_host,
)
from pipeline.ingest.decoding import DecodingError
from pipeline.ingest.feeds import is_remote
from pipeline.settings import Settings

__all__ = [
    "ACCEPTED_ENCODINGS",
    "PERMANENT_REDIRECTS",
    "RETRY_LATER",
    "FetchError",
    "Fetched",
    "HostLimits",
    "Resolver",
    "fetch",
    "is_public_address",
    "make_client",
    "resolve_host",
]
"""``HostLimits``, ``Resolver``, ``is_public_address`` and ``resolve_host`` live in
``pipeline.http`` (the page fetcher shares them) and are named here as before."""

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

    Bodies are decoded by ``pipeline.ingest.decoding`` (gzip, deflate, brotli, zstd) in bounded
    slices, not by httpx, so that the size cap also holds for compression bombs. ``fetch``
    follows redirects itself, up to the client's ``max_redirects``, to vet each hop.
    """
    timeout = httpx.Timeout(
        settings.fetch_timeout_seconds, connect=settings.fetch_connect_timeout_seconds
    )
    return httpx.Client(
        timeout=timeout,
        follow_redirects=False,
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
    allow_private_redirects: bool = False,
    resolve: Resolver = resolve_host,
) -> Fetched:
    """Fetch ``url`` (``http(s)://`` or a local path) and return its bytes.

    The size cap counts decoded bytes as they stream in, decoded in bounded slices, so a
    compression bomb stops at the cap; the deadline bounds the whole download, so a server
    dripping a byte at a time cannot hold a worker forever (the read timeout alone would
    not trip).

    Redirects are followed one hop at a time, up to the client's ``max_redirects``. Unless
    ``allow_private_redirects``, a feed on a public address may not redirect to a loopback,
    private or link-local one (a public server must not steer the fetcher into the local
    network); a feed registered on such an address may redirect anywhere. ``resolve``
    looks up the addresses of each host.
    """
    if not is_remote(url):
        return _read_local(Path(url), max_bytes)
    headers = _conditional_headers(etag, last_modified)
    started = time.monotonic()
    try:
        request = client.build_request("GET", url, headers=headers)
        vet = None if allow_private_redirects else RedirectVetting(request.url, resolve).check
        with follow_redirects(client, request, vet) as (response, history):
            return _fetched(response, history, max_bytes, started, deadline_seconds)
    except RefusalError as exc:
        raise _refusal(exc) from None
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out ({type(exc).__name__})") from exc
    except (httpx.DecodingError, DecodingError) as exc:
        raise FetchError(f"cannot decode the compressed response ({exc})") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[bytes, bytes]:
    """The validators of a conditional GET, byte for byte as the server sent them.

    httpx reads headers as Latin-1 and would refuse to send a non-ASCII str back.
    """
    headers: dict[bytes, bytes] = {}
    if etag:
        headers[b"If-None-Match"] = _header_bytes(etag)
    if last_modified:
        headers[b"If-Modified-Since"] = _header_bytes(last_modified)
    return headers


def _fetched(
    response: httpx.Response,
    history: list[httpx.Response],
    max_bytes: int,
    started: float,
    deadline_seconds: float,
) -> Fetched:
    """The last answer after the redirects: unchanged, an error, or the body read in full."""
    moved_to = _moved_to(response, history)
    if response.status_code == 304:
        return Fetched(304, b"", dict(response.headers), str(response.url), moved_to)
    if response.status_code >= 400:
        raise _status_error(response)
    body = read_body(response, max_bytes, started, deadline_seconds)
    return Fetched(response.status_code, body, dict(response.headers), str(response.url), moved_to)


def _status_error(response: httpx.Response) -> FetchError:
    """An error status as a failure, with the ``Retry-After`` of a 429 or 503."""
    return FetchError(
        f"HTTP {response.status_code} {response.reason_phrase}".strip(),
        response.status_code,
        response.headers.get("retry-after") if response.status_code in RETRY_LATER else None,
    )


def _refusal(refused: RefusalError) -> FetchError:
    """A refusal of ``pipeline.http`` in the words of the feed's ``last_error``."""
    if isinstance(refused, TooLargeError):
        return FetchError(
            f"response larger than {refused.max_bytes} bytes (fetch_max_bytes)", refused.status
        )
    if isinstance(refused, TooSlowError):
        return FetchError(
            f"download took longer than {refused.deadline_seconds:g} s (fetch_deadline_seconds)",
            refused.status,
        )
    if isinstance(refused, PrivateAddressError):
        return FetchError(
            f"redirect to {refused.target} refused: it leads from a public address to a private "
            "one (set STORYLINE_FETCH_ALLOW_PRIVATE_REDIRECTS=true to allow)"
        )
    if isinstance(refused, TooManyRedirectsError):
        return FetchError(f"too many redirects (more than {refused.limit}; a redirect loop?)")
    return FetchError(str(refused))


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _moved_to(response: httpx.Response, history: list[httpx.Response]) -> str | None:
    if history and all(step.status_code in PERMANENT_REDIRECTS for step in history):
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

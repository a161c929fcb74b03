"""Fetching a feed's bytes: over HTTP with httpx, or from a local file.

All network I/O goes through the ``httpx.Client`` passed in, so tests can hand in a
client bound to a local server or an ``httpx.MockTransport``.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from pipeline.ingest.decoding import DecodingError, decode
from pipeline.ingest.feeds import is_remote
from pipeline.settings import Settings

PERMANENT_REDIRECTS = frozenset({301, 308})
ACCEPTED_ENCODINGS = ("gzip", "deflate", "br", "zstd")
RETRY_LATER = frozenset({429, 503})

Resolver = Callable[[str], list[str]]
"""Host name (or literal address) to the addresses it resolves to; empty if it does not."""


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


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IPv4 or IPv6 literal) is reachable on the public internet.

    ``is_global`` is an allow-list: it follows the IANA special-purpose registries, so it
    refuses what ``is_private`` misses, carrier-grade NAT (100.64.0.0/10) among them.
    Multicast, reserved and IPv6 site-local addresses are refused on top; an IPv4-mapped
    IPv6 address is judged as the IPv4 address it carries.
    """
    ip = ipaddress.ip_address(address.partition("%")[0])  # no zone: fe80::1%eth0
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return is_public_address(str(ip.ipv4_mapped))
        if ip.is_site_local:
            return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def resolve_host(host: str) -> list[str]:
    """The addresses ``host`` resolves to, by ``getaddrinfo`` as the connection will.

    The system resolver also reads the forms a URL parser passes through as a name, such
    as ``2130706433`` or ``0x7f.1`` for 127.0.0.1. A host that does not resolve gives no
    address, and its fetch fails later with the usual connection error.
    """
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(sockaddr[0]) for *_, sockaddr in found]


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
        vet = None if allow_private_redirects else _RedirectVetting(request.url, resolve)
        with _follow_redirects(client, request, vet) as (response, history):
            return _fetched(response, history, max_bytes, started, deadline_seconds)
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
    body = _read_body(response, max_bytes, started, deadline_seconds)
    return Fetched(response.status_code, body, dict(response.headers), str(response.url), moved_to)


def _status_error(response: httpx.Response) -> FetchError:
    """An error status as a failure, with the ``Retry-After`` of a 429 or 503."""
    return FetchError(
        f"HTTP {response.status_code} {response.reason_phrase}".strip(),
        response.status_code,
        response.headers.get("retry-after") if response.status_code in RETRY_LATER else None,
    )


def _read_body(
    response: httpx.Response, max_bytes: int, started: float, deadline_seconds: float
) -> bytes:
    """The body, decoded in bounded slices as it streams in.

    The cap counts decoded bytes, so a compression bomb stops at ``max_bytes``; the
    deadline counts from ``started`` (``time.monotonic()``, before the first request), so a
    server dripping bytes cannot hold a worker.
    """
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
                f"download took longer than {deadline_seconds:g} s (fetch_deadline_seconds)",
                response.status_code,
            )
    return bytes(body)


@dataclass(frozen=True)
class _RedirectVetting:
    """Refuses a redirect hop that leads from a public feed address to a non-public one."""

    origin: httpx.URL
    resolve: Resolver

    def check(self, target: httpx.URL) -> None:
        # A hop must resolve to public addresses only; one that does not resolve at all
        # is let through to fail as any unreachable host does.
        if all(is_public_address(address) for address in self._addresses(target)):
            return
        # The origin counts as private only when every address of it is: a public host
        # cannot add one private record to its name to exempt its own redirects.
        origin = self._addresses(self.origin)
        if origin and not any(is_public_address(address) for address in origin):
            return
        raise FetchError(
            f"redirect to {target} refused: it leads from a public address to a private "
            "one (set STORYLINE_FETCH_ALLOW_PRIVATE_REDIRECTS=true to allow)"
        )

    def _addresses(self, url: httpx.URL) -> list[str]:
        return self.resolve(url.host) if url.host else []


@contextmanager
def _follow_redirects(
    client: httpx.Client, request: httpx.Request, vet: _RedirectVetting | None
) -> Iterator[tuple[httpx.Response, list[httpx.Response]]]:
    """Send ``request``, following redirects; yields the last response and the redirects.

    httpx builds each next request (method, headers, cookies) as its own redirect handling
    would; only the sending is done here, so that a hop is vetted before any byte goes to
    it. Redirect bodies are closed unread, so they cannot evade the size cap.
    """
    history: list[httpx.Response] = []
    response = client.send(request, stream=True, follow_redirects=False)
    try:
        while response.next_request is not None:
            target = response.next_request
            response.close()
            history.append(response)
            if len(history) > client.max_redirects:
                raise FetchError(
                    f"too many redirects (more than {client.max_redirects}; a redirect loop?)"
                )
            if vet is not None:
                vet.check(target.url)
            response = client.send(target, stream=True, follow_redirects=False)
        yield response, history
    finally:
        response.close()


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

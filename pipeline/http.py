"""HTTP machinery shared by the feed fetcher and the article page fetcher.

Both send through an ``httpx.Client`` they are given, follow redirects one hop at a time
so that each hop is checked before any byte goes to it, and read bodies decoded in bounded
slices under a size cap and a deadline. The refusals here are typed and carry their
numbers; each fetcher words them for its own errors and settings.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from pipeline.ingest.decoding import decode
from pipeline.ingest.feeds import is_remote

Resolver = Callable[[str], list[str]]
"""Host name (or literal address) to the addresses it resolves to; empty if it does not."""

HopCheck = Callable[[httpx.URL], None]
"""Called with each redirect target before it is requested; raises to refuse the hop."""


class RefusalError(Exception):
    """The fetch was stopped on our side: a rule of ours, not the server's answer."""


class PrivateAddressError(RefusalError):
    """A request would go to a loopback, private or link-local address."""

    def __init__(self, target: httpx.URL) -> None:
        super().__init__(f"{target} is not on a public address")
        self.target = target


class TooManyRedirectsError(RefusalError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} redirects")
        self.limit = limit


class TooLargeError(RefusalError):
    """The decoded body grew past ``max_bytes``."""

    def __init__(self, max_bytes: int, status: int) -> None:
        super().__init__(f"larger than {max_bytes} bytes")
        self.max_bytes = max_bytes
        self.status = status


class TooSlowError(RefusalError):
    """The download went on past its deadline."""

    def __init__(self, deadline_seconds: float, status: int) -> None:
        super().__init__(f"took longer than {deadline_seconds:g} s")
        self.deadline_seconds = deadline_seconds
        self.status = status


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


def require_public(url: httpx.URL, resolve: Resolver) -> None:
    """Raise :class:`PrivateAddressError` unless every address of ``url``'s host is public.

    A host that does not resolve at all is let through, to fail as any unreachable host does.
    """
    addresses = resolve(url.host) if url.host else []
    if not all(is_public_address(address) for address in addresses):
        raise PrivateAddressError(url)


@dataclass(frozen=True)
class RedirectVetting:
    """Refuses a redirect hop that leads from a public address to a non-public one."""

    origin: httpx.URL
    resolve: Resolver

    def check(self, target: httpx.URL) -> None:
        try:
            require_public(target, self.resolve)
        except PrivateAddressError:
            # The origin counts as private only when every address of it is: a public host
            # cannot add one private record to its name to exempt its own redirects.
            origin = self.resolve(self.origin.host) if self.origin.host else []
            if origin and not any(is_public_address(address) for address in origin):
                return
            raise


@contextmanager
def follow_redirects(
    client: httpx.Client, request: httpx.Request, check: HopCheck | None
) -> Iterator[tuple[httpx.Response, list[httpx.Response]]]:
    """Send ``request``, following redirects; yields the last response and the redirects.

    httpx builds each next request (method, headers, cookies, timeouts) as its own redirect
    handling would; only the sending is done here, so that ``check`` sees a hop before any
    byte goes to it. Redirect bodies are closed unread, so they cannot evade the size cap.
    The last response is streamed: its body is not read unless the caller reads it.
    """
    history: list[httpx.Response] = []
    response = client.send(request, stream=True, follow_redirects=False)
    try:
        while response.next_request is not None:
            target = response.next_request
            response.close()
            history.append(response)
            if len(history) > client.max_redirects:
                raise TooManyRedirectsError(client.max_redirects)
            if check is not None:
                check(target.url)
            response = client.send(target, stream=True, follow_redirects=False)
        yield response, history
    finally:
        response.close()


def read_body(
    response: httpx.Response,
    max_bytes: int,
    started: float,
    deadline_seconds: float,
    *,
    truncate: bool = False,
) -> bytes:
    """The body, decoded in bounded slices as it streams in.

    The cap counts decoded bytes, so a compression bomb stops at ``max_bytes``: past it,
    :class:`TooLargeError`, or with ``truncate`` the first ``max_bytes``. The deadline counts
    from ``started`` (``time.monotonic()``, before the first request), so a server dripping
    bytes cannot hold a worker: past it, :class:`TooSlowError`.
    """
    body = bytearray()
    for chunk in _decoded(response):
        if len(body) + len(chunk) > max_bytes:
            if truncate:
                return bytes(body + chunk[: max_bytes - len(body)])
            raise TooLargeError(max_bytes, response.status_code)
        body.extend(chunk)
        if time.monotonic() - started > deadline_seconds:
            raise TooSlowError(deadline_seconds, response.status_code)
    return bytes(body)


def _decoded(response: httpx.Response) -> Iterator[bytes]:
    if response.is_stream_consumed:
        # A body handed over whole (a transport that is not a network, e.g. MockTransport)
        # was already read, and decoded, by httpx.
        return decode(None, [response.content])
    return decode(response.headers.get("content-encoding"), response.iter_raw())


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

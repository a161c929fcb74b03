"""Fetching an article's page: politely, safely, HTML only, and when to try again.

``fetch_page`` sends through the ``httpx.Client`` it is given (``ingest.fetch.make_client``:
the project's User-Agent and timeouts) and the machinery of ``pipeline.http`` the feed
fetcher uses: redirects followed one vetted hop at a time, the body decoded in bounded
slices under a size cap and a deadline. On top, for pages:

- every address on the way must be public, the page's own included: its link comes from a
  feed's publisher, not from whoever registered the feed (``page_allow_private_addresses``);
- the robots.txt of every host on the way must allow the page (``RobotsRules``);
- only HTML is read: the Content-Type decides before a byte of the body is read;
- the body is returned as bytes with its Content-Type: the extractor decodes it.

At most ``page_per_host`` pages at a time to one host is the caller's ``HostLimits``.
Failures are ``PageError`` exceptions with a short, stable ``reason`` and whether it is permanent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from pipeline.extract.robots import RobotsRules, RobotsUnavailableError
from pipeline.http import (
    PrivateAddressError,
    RefusalError,
    Resolver,
    TooLargeError,
    TooManyRedirectsError,
    TooSlowError,
    follow_redirects,
    read_body,
    require_public,
    resolve_host,
)
from pipeline.ingest.decoding import DecodingError
from pipeline.ingest.schedule import cap_retry_after, jittered_delay, parse_retry_after
from pipeline.settings import Settings

__all__ = ["Page", "PageError", "RobotsRules", "fetch_page", "next_attempt"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
SCHEMES = frozenset({"http", "https"})
TRANSIENT_STATUSES = frozenset({408, 425, 429})
"""Client errors that go away by themselves; every 5xx does too, every other 4xx is final."""


@dataclass(frozen=True)
class Page:
    """An HTML page as the server sent it: the bytes decompressed, not decoded."""

    body: bytes
    content_type: str | None
    """The raw Content-Type header, charset included; ``None`` if the server sent none."""
    final_url: str
    """Where the redirects ended: relative links in the page are relative to it."""
    status: int


class PageError(Exception):
    """The page could not be fetched.

    ``reason`` is short and stable (``robots``, ``not-html``, ``http 404``, ``timeout``,
    …); ``permanent`` says whether trying again can help; ``retry_after`` is when the server
    asked to be asked again, capped at ``retry_after_max_hours``. The message adds details.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        status: int | None = None,
        retry_after: datetime | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.permanent = permanent
        self.status = status
        self.retry_after = retry_after
        self.detail = detail


def fetch_page(
    client: httpx.Client,
    url: str,
    settings: Settings,
    robots: RobotsRules,
    *,
    resolve: Resolver = resolve_host,
) -> Page:
    """Fetch the article page at ``url``; :class:`PageError` if it cannot be had.

    Before any request to a host (the page's, then each redirect's), its scheme, its
    addresses and its robots.txt are checked. The deadline counts from the start, robots.txt
    included. ``resolve`` looks up host addresses (tests make a local server count as public).
    """
    started = time.monotonic()
    try:
        target = httpx.URL(url)
        admit = _Admission(settings, robots, resolve)
        admit(target)
        timeout = httpx.Timeout(
            settings.page_timeout_seconds, connect=settings.fetch_connect_timeout_seconds
        )
        request = client.build_request("GET", target, headers={"Accept": ACCEPT}, timeout=timeout)
        with follow_redirects(client, request, admit) as (response, _):
            return _page(response, settings, started)
    except (
        RefusalError,
        RobotsUnavailableError,
        DecodingError,
        httpx.HTTPError,
        httpx.InvalidURL,
    ) as exc:
        raise _page_error(exc) from exc


@dataclass(frozen=True)
class _Admission:
    """Whether a request may go to a URL: the page's own, or a redirect's target."""

    settings: Settings
    robots: RobotsRules
    resolve: Resolver

    def __call__(self, target: httpx.URL) -> None:
        if target.scheme not in SCHEMES or not target.host:
            raise PageError("unsupported url", permanent=True, detail=str(target))
        if not self.settings.page_allow_private_addresses:
            require_public(target, self.resolve)
        if not self.robots.allowed(target):
            raise PageError("robots", permanent=True, detail=f"{target} disallowed")


def _page(response: httpx.Response, settings: Settings, started: float) -> Page:
    """The last answer after the redirects: an error, not HTML, or the body read in full."""
    status = response.status_code
    if status >= 300:  # a 3xx left here has no Location to follow
        raise _status_error(response, settings)
    content_type = response.headers.get("content-type")
    if content_type and _media_type(content_type) not in HTML_TYPES:
        raise PageError("not-html", permanent=True, status=status, detail=content_type)
    body = read_body(response, settings.page_max_bytes, started, settings.page_deadline_seconds)
    return Page(body, content_type, str(response.url), status)


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _status_error(response: httpx.Response, settings: Settings) -> PageError:
    status = response.status_code
    if status >= 500 or status in TRANSIENT_STATUSES:
        header = response.headers.get("retry-after")
        retry_after = parse_retry_after(header, datetime.now(UTC), settings)
        return PageError(f"http {status}", permanent=False, status=status, retry_after=retry_after)
    return PageError(f"http {status}", permanent=True, status=status)


def _page_error(exc: Exception) -> PageError:
    """What went wrong, as a ``PageError``: the refusals of ``pipeline.http`` in page terms."""
    if isinstance(exc, PrivateAddressError):
        return PageError("private address", permanent=True, detail=str(exc.target))
    if isinstance(exc, TooLargeError):
        detail = f"over {exc.max_bytes} bytes (page_max_bytes)"
        return PageError("too large", permanent=True, status=exc.status, detail=detail)
    if isinstance(exc, TooSlowError):
        detail = f"download took over {exc.deadline_seconds:g} s (page_deadline_seconds)"
        return PageError("timeout", permanent=False, status=exc.status, detail=detail)
    if isinstance(exc, TooManyRedirectsError):
        return PageError("too many redirects", permanent=True, detail=str(exc))
    if isinstance(exc, RobotsUnavailableError):
        return PageError("robots unavailable", permanent=False, detail=str(exc))
    if isinstance(exc, httpx.TimeoutException):
        return PageError("timeout", permanent=False, detail=type(exc).__name__)
    if isinstance(exc, httpx.DecodingError | DecodingError):
        return PageError("undecodable", permanent=True, detail=str(exc))
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return PageError("unsupported url", permanent=True, detail=str(exc))
    return PageError("connection", permanent=False, detail=f"{type(exc).__name__}: {exc}")


def next_attempt(
    attempts: int,
    now: datetime,
    retry_after: datetime | None,
    settings: Settings,
    *,
    key: str = "",
) -> datetime | None:
    """When to try a page again after ``attempts`` failed tries; ``None``: give it up.

    ``page_retry_base_minutes * 2 ** (attempts - 1)``, jittered by ±20 % from ``key`` (the page's
    URL, so that pages that failed together spread out) and ``attempts``, and never before
    the server's ``retry_after``, itself capped at ``retry_after_max_hours`` from ``now``.
    """
    if attempts >= settings.page_max_attempts:
        return None
    later = now + jittered_delay(attempts, key, settings.page_retry_base_minutes * 60)
    if retry_after is None:
        return later
    return max(later, cap_retry_after(retry_after, now, settings))

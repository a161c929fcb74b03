"""robots.txt: may Storyline fetch this article page? Read once per host and run.

``RobotsTxt`` is the pure part, RFC 9309 rules matched against a path. ``urllib.robotparser``
is not used: it takes a group's first matching rule rather than the longest, reads ``*`` and
``$`` literally (``Disallow: /*?`` would never match), ends a group at a blank line, and
matches user agents by substring. ``Crawl-delay`` (not in RFC 9309) is not read: pages are
spaced by ``page_per_host`` only.

``RobotsRules`` fetches each origin's robots.txt once, with the page fetcher's client and
rules (every hop on a public address, the size read bounded, a short timeout), as RFC
9309 says: 2xx is parsed (its first 512 KiB), 4xx means no rules, 5xx, 429 or no answer
means nothing may be fetched for now.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx

from pipeline.http import (
    HopCheck,
    RefusalError,
    Resolver,
    TooManyRedirectsError,
    follow_redirects,
    read_body,
    require_public,
    resolve_host,
)
from pipeline.ingest.decoding import DecodingError
from pipeline.settings import Settings

ROBOTS_MAX_BYTES = 512 * 1024
"""RFC 9309 asks crawlers to parse at least 500 KiB; what lies past the cap is ignored."""
ROBOTS_TIMEOUT_SECONDS = 10.0
"""A robots.txt is small: longest wait for its next bytes, and for all of it."""
DEFAULT_PORTS = {"http": 80, "https": 443}

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def product_token(user_agent: str) -> str:
    """The name robots.txt groups address: ``Storyline`` of ``Storyline/1.2 (+https://…)``."""
    words = user_agent.split("/", 1)[0].split()
    return words[0] if words else "Storyline"


def normalize(path: str) -> str:
    """A path (or rule pattern) percent-encoded one way only, so that equal paths compare
    equal: non-ASCII as UTF-8 escapes, escapes in upper case, unreserved characters bare."""
    encoded = quote(path, safe="/?#[]@!$&'()*+,;=:%")

    def one(match: re.Match[str]) -> str:
        char = chr(int(match[1], 16))
        return char if char in _UNRESERVED else f"%{match[1].upper()}"

    return _ESCAPE.sub(one, encoded)


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str
    """Normalized; ``*`` matches any characters, a final ``$`` the end of the path."""

    def matches(self, path: str) -> bool:
        """Each piece between the stars found in turn, leftmost first (no regular expression: a
        publisher's ``/*a*a*a*a*…`` must not cost exponential backtracking)."""
        anchored = self.pattern.endswith("$")
        first, *pieces = (self.pattern[:-1] if anchored else self.pattern).split("*")
        if not path.startswith(first):
            return False
        if not pieces:
            return path == first or not anchored
        last = pieces.pop()
        position = len(first)
        for piece in pieces:
            found = path.find(piece, position)
            if found < 0:
                return False
            position = found + len(piece)
        if anchored:
            return path.endswith(last) and len(path) - len(last) >= position
        return path.find(last, position) >= 0


@dataclass(frozen=True)
class RobotsTxt:
    """The rules of one robots.txt for one product token (RFC 9309, section 2.2)."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def parse(cls, text: str, token: str) -> RobotsTxt:
        """The rules of the groups naming ``token`` (any case), combined; else of ``*``."""
        groups: dict[str, list[Rule]] = {}
        agents: list[str] = []
        in_rules = False
        for line in text.splitlines():
            key, _, value = line.partition("#")[0].partition(":")
            key, value = key.strip().lower(), value.strip()
            if key == "user-agent":
                agents = [] if in_rules else agents
                agents.append(value.split("/", 1)[0].strip().lower())
                in_rules = False
            elif key in ("allow", "disallow") and agents and value:
                in_rules = True
                for agent in agents:
                    groups.setdefault(agent, []).append(Rule(key == "allow", normalize(value)))
        chosen = groups.get(token.lower(), groups.get("*", []))
        return cls(tuple(chosen))

    def allows(self, url: httpx.URL) -> bool:
        """The longest matching rule decides, an allow on a tie; no matching rule allows."""
        path = normalize(url.raw_path.decode("ascii"))
        if path == "/robots.txt":
            return True
        best: Rule | None = None
        for rule in self.rules:
            if rule.matches(path) and (
                best is None
                or len(rule.pattern) > len(best.pattern)
                or (len(rule.pattern) == len(best.pattern) and rule.allow)
            ):
                best = rule
        return best is None or best.allow


class RobotsUnavailableError(Exception):
    """An origin's robots.txt could not be read (5xx, 429, no answer): for now, nothing of
    it may be fetched."""

    def __init__(self, origin: str, detail: str) -> None:
        super().__init__(f"{origin}/robots.txt unavailable: {detail}")
        self.origin = origin
        self.detail = detail


@dataclass(frozen=True)
class _Unavailable:
    detail: str


@dataclass
class _Origin:
    lock: threading.Lock = field(default_factory=threading.Lock)
    rules: RobotsTxt | _Unavailable | None = None


class RobotsRules:
    """The robots.txt rules of a run, one per scheme, host and port, each fetched once.

    Safe to share between threads: the first thread to need an origin's rules fetches them
    while the others wait for that origin. Hosts in ``page_ignore_robots_hosts`` are not
    asked. ``resolve`` looks up host addresses (tests make a local server count as public).
    """

    def __init__(
        self, client: httpx.Client, settings: Settings, *, resolve: Resolver = resolve_host
    ) -> None:
        self._client = client
        self._token = product_token(settings.user_agent)
        self._ignored = frozenset(settings.page_ignore_robots_hosts)
        self._check: HopCheck | None = (
            None
            if settings.page_allow_private_addresses
            else lambda url: require_public(url, resolve)
        )
        seconds = min(settings.page_timeout_seconds, ROBOTS_TIMEOUT_SECONDS)
        self._timeout = httpx.Timeout(seconds, connect=settings.fetch_connect_timeout_seconds)
        self._lock = threading.Lock()
        self._origins: dict[tuple[str, str, int], _Origin] = {}

    def allowed(self, url: httpx.URL) -> bool:
        """Whether the robots.txt of ``url``'s origin lets Storyline fetch it.

        Raises :class:`RobotsUnavailableError` while that robots.txt cannot be read.
        """
        if url.host in self._ignored:
            return True
        rules = self._rules(url)
        if isinstance(rules, _Unavailable):
            raise RobotsUnavailableError(_origin(url), rules.detail)
        return rules.allows(url)

    def _rules(self, url: httpx.URL) -> RobotsTxt | _Unavailable:
        key = (url.scheme, url.host, url.port or DEFAULT_PORTS.get(url.scheme, 0))
        with self._lock:
            origin = self._origins.setdefault(key, _Origin())
        with origin.lock:
            if origin.rules is None:
                origin.rules = self._fetch(httpx.URL(_origin(url) + "/robots.txt"))
            return origin.rules

    def _fetch(self, url: httpx.URL) -> RobotsTxt | _Unavailable:
        started = time.monotonic()
        try:
            if self._check is not None:
                self._check(url)
            request = self._client.build_request(
                "GET", url, headers={"Accept": "text/plain, */*;q=0.1"}, timeout=self._timeout
            )
            with follow_redirects(self._client, request, self._check) as (response, _):
                return self._answer(response, started)
        except TooManyRedirectsError:
            return RobotsTxt()  # RFC 9309, 2.3.1.2: may count as unavailable, as a 4xx does
        except (RefusalError, DecodingError, httpx.HTTPError) as exc:
            return _Unavailable(str(exc) or type(exc).__name__)

    def _answer(self, response: httpx.Response, started: float) -> RobotsTxt | _Unavailable:
        status = response.status_code
        if 200 <= status < 300:
            body = read_body(
                response, ROBOTS_MAX_BYTES, started, ROBOTS_TIMEOUT_SECONDS, truncate=True
            )
            return RobotsTxt.parse(body.decode("utf-8-sig", errors="replace"), self._token)
        if 400 <= status < 500 and status != 429:
            return RobotsTxt()  # "unavailable": no rules apply
        return _Unavailable(f"HTTP {status}")


def _origin(url: httpx.URL) -> str:
    """``scheme://host[:port]``, without any user name or password."""
    return str(httpx.URL(scheme=url.scheme, host=url.host, port=url.port))

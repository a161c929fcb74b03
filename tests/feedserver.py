"""A real HTTP server on 127.0.0.1 for tests that fetch feeds over the network.

    with FeedServer() as server:
        server.route("/a.xml", b"<rss>...</rss>", headers={"Content-Type": "application/rss+xml"})
        httpx.get(server.url("/a.xml"))
        assert server.requests_for("/a.xml")[0].headers["user-agent"].startswith("Storyline")

Routes map a path to a canned response (status, headers, body) or to a function of the
request, and can be changed while the server runs. An unknown path is a 404. The server
listens on an OS-assigned port, serves from a background thread, records every request
(method, path, headers with lower-case names) and writes nothing to stderr.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Response:
    """What the server answers on a route."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server got. ``path`` includes any query string."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case (HTTP header names are case-insensitive)."""


Responder = Callable[[RecordedRequest], Response]
"""A dynamic route: builds the response from the request (e.g. 304 on a matching ETag)."""


class Gate:
    """A route's handler that answers only once opened: a fetch of it hangs until then."""

    def __init__(self, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.body = body
        self.headers = dict(headers or {"Content-Type": "application/rss+xml; charset=utf-8"})
        self.open = threading.Event()

    def __call__(self, request: RecordedRequest) -> Response:
        self.open.wait(timeout=120)
        return Response(200, self.headers, self.body)


class BackgroundServer:
    """An HTTP server on a loopback port, serving from a daemon thread; a context manager.

    Subclasses name their request handler in ``_handler``; the handler reaches the
    subclass instance as ``self.server.owner``.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._server: OwnedServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        server = OwnedServer((self._host, 0), self._handler())
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _before_stop(self) -> None:
        """Called first by ``stop``: a subclass ends its long-running answers here."""

    def stop(self) -> None:
        self._before_stop()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; use it in a `with` block")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)


class OwnedServer(ThreadingHTTPServer):
    daemon_threads = True
    owner: Any
    """The ``BackgroundServer`` this server answers for."""

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a client hanging up early is not worth a traceback on stderr."""


class FeedServer(BackgroundServer):
    """A threaded HTTP server with settable routes; use it as a context manager."""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self._lock = threading.Lock()
        self._routes: dict[str, Response | Responder] = {}
        self._requests: list[RecordedRequest] = []
        self.errors: list[BaseException] = []
        """Exceptions raised while handling requests (e.g. by a responder), for assertions."""

    # -- routes ------------------------------------------------------------------------

    def route(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Serve ``body`` with ``status`` and ``headers`` at ``path`` (replacing any route).

        ``Content-Length`` is added; no ``Content-Type`` is sent unless given in ``headers``.
        """
        self.respond(path, Response(status, dict(headers or {}), body))

    def respond(self, path: str, response: Response | Responder) -> None:
        """Serve a ``Response``, or call ``response(request)`` for each request, at ``path``."""
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        with self._lock:
            self._routes[path] = response

    def remove(self, path: str) -> None:
        """Forget the route: ``path`` answers 404 from now on."""
        with self._lock:
            self._routes.pop(path, None)

    # -- addresses and records ---------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The requests whose path (query string ignored) is ``path``."""
        return [r for r in self.requests if urlsplit(r.path).path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- called by the handler threads -------------------------------------------------

    def _answer(self, request: RecordedRequest) -> Response:
        with self._lock:
            self._requests.append(request)
            route = self._routes.get(request.path)
            if route is None:
                route = self._routes.get(urlsplit(request.path).path)
        if route is None:
            return Response(404, {"Content-Type": "text/plain"}, b"not found\n")
        if isinstance(route, Response):
            return route
        try:
            return route(request)
        except Exception as exc:
            self.errors.append(exc)
            return Response(500, {"Content-Type": "text/plain"}, f"{exc!r}\n".encode())


class _Handler(BaseHTTPRequestHandler):
    server: OwnedServer

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, *, send_body: bool) -> None:
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
        )
        response = self.server.owner._answer(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name in response.headers):
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if send_body and response.status not in (204, 304) and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no access log on stderr."""

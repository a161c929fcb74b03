"""A TCP proxy in front of PostgreSQL that can be told to freeze: it keeps every connection
open and stops forwarding in both directions, as a server that froze after accepting does
(a stopped backend, a saturated machine, a failover in progress): the client's kernel sees
its bytes acknowledged and nothing ever comes back."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from types import TracebackType

from sqlalchemy.engine import make_url


class FreezingProxy:
    """``with FreezingProxy(url) as proxy:`` forwards ``proxy.url`` to the server of ``url``
    until ``proxy.freeze()``; ``proxy.thaw()`` lets the held bytes through again."""

    def __init__(self, url: str) -> None:
        target = make_url(url)
        self.upstream = (target.host or "127.0.0.1", target.port or 5432)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.url = target.set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False
        )
        self._flowing = True
        self._marker: bytes | None = None
        self._gate = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def freeze(self) -> None:
        """From now on no byte is forwarded either way (one being forwarded goes first)."""
        with self._gate:
            self._flowing = False

    def freeze_on(self, marker: bytes) -> None:
        """Freeze when a client sends bytes holding ``marker`` (a statement's words), before
        they reach the server: a freeze in the middle of a command's run."""
        with self._gate:
            self._marker = marker

    def thaw(self) -> None:
        with self._gate:
            self._flowing = True
            self._gate.notify_all()

    def __enter__(self) -> FreezingProxy:
        self._start(self._accept)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self.thaw()
        for thread in self._threads:
            thread.join(timeout=5)
        for sock in [self.listener, *self._sockets]:
            sock.close()

    def _start(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            server = socket.create_connection(self.upstream)
            self._sockets += [client, server]
            self._start(self._pump, client, server, True)
            self._start(self._pump, server, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                with self._gate:
                    # Frozen: leave the bytes in the kernel's buffers until thawed.
                    while not self._flowing and not self._stop.is_set():
                        self._gate.wait(0.1)
                    data = source.recv(65536)
                    if from_client and self._marker is not None and self._marker in data:
                        self._marker = None
                        self._flowing = False
                        while not self._flowing and not self._stop.is_set():
                            self._gate.wait(0.1)
                    if not data:
                        sink.shutdown(socket.SHUT_WR)
                        return
                    sink.sendall(data)

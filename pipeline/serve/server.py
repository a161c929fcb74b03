"""The HTTP server of ``storyline serve``: uvicorn, stopped the way an operator expects.

On SIGTERM or Ctrl-C uvicorn stops accepting connections, closes idle ones and lets the
requests in flight finish, for at most ``timeout_graceful_shutdown`` seconds
(``serve_grace_seconds``), then cancels what is left. This server then says so in one
line. A request still running then (its thread waits on the database, and a thread cannot
be stopped) would hold the process until it ends: the process exits without it. A second
signal ends the process at once (uvicorn's own would wait on after a second SIGTERM).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from types import FrameType

import uvicorn

from pipeline.stopping import exit_at_once, signal_name


class DrainingServer(uvicorn.Server):
    stopped_by: int | None = None
    """The signal that stopped it, if one did."""
    cut = 0
    """Requests still running when the grace period ran out (uvicorn then cancels them)."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            exit_at_once(sig)
        if self.stopped_by is None:
            self.stopped_by = sig
        super().handle_exit(sig, frame)

    async def _wait_tasks_to_complete(self) -> None:
        # uvicorn cancels this wait when the grace period runs out, then the requests: count
        # them now, as a cancelled request leaves at once even if its thread runs on.
        try:
            await super()._wait_tasks_to_complete()
        except asyncio.CancelledError:
            self.cut = len(self.server_state.tasks)
            raise

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        if self.stopped_by is None:
            return
        said = f"serve: stopped by signal {signal_name(self.stopped_by)}"
        grace = self.config.timeout_graceful_shutdown
        cut = self.cut
        if not cut:
            print(f"{said}, after the requests in flight (at most {grace} s)", file=sys.stderr)
            return
        requests = "1 request" if cut == 1 else f"{cut} requests"
        print(f"{said}; {requests} still running after {grace} s cut", file=sys.stderr)
        sys.stderr.flush()
        os._exit(0)

"""Worker processes that extract article bodies: one page at a time each, apart from the
stage's process.

trafilatura and lxml crash the process when they parse on several threads at once
(trafilatura issues #840 and #925), and may on a hostile page. A worker is a plain
``python -m pipeline.extract.workers`` child reading pickled pages on its stdin and writing
pickled ``Extraction``s on its stdout (not ``multiprocessing``: a daemonic process, as an
Airflow task on a Celery worker is, may start no multiprocessing children, and a spawned
one runs the parent's main script again unless it is guarded). A worker that dies costs
its own page only (``WorkerCrashError``); the next page gets a new worker.
"""

from __future__ import annotations

import atexit
import logging
import pickle
import queue
import select
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

from pipeline.extract.article import Extraction, extract_page, warm

log = logging.getLogger(__name__)

__all__ = ["WorkerCrashError", "Workers"]


COMMAND = [sys.executable, "-m", "pipeline.extract.workers"]
"""How a worker process is started."""
STDERR_TAIL = 2000
"""Bytes of a dead worker's stderr that are logged."""
TIMEOUT_SECONDS = 120.0
"""A page not extracted in this long has hung its worker (a pathological page): the
worker is killed and the page counts as a crash."""


class WorkerCrashError(Exception):
    """The worker process extracting a page died (a crash in the parser) or hung; the
    message is the reason to record: ``extractor crashed`` or ``extractor timeout``."""


class _Worker:
    """One worker process; what it writes on stderr goes to a file of its own, whose end is
    logged if it dies (an import error, a crash's message)."""

    def __init__(self) -> None:
        # lives as long as the worker: closed by ``close``
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr
        )

    def extract(self, job: tuple[bytes, str | None, dict[str, Any]]) -> Extraction:
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:  # made with pipes: never
            raise WorkerCrashError("no pipes")
        try:
            pickle.dump(job, stdin)
            stdin.flush()
            if not select.select([stdout], [], [], TIMEOUT_SECONDS)[0]:
                self.process.kill()
                raise self._died("extractor timeout")
            result = pickle.load(stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as error:
            raise self._died("extractor crashed") from error
        if not isinstance(result, Extraction):
            raise self._died("extractor crashed")
        return result

    def _died(self, reason: str) -> WorkerCrashError:
        """Stop the worker, log why it ended, and say so."""
        self._stop()
        self.stderr.seek(max(0, self.stderr.seek(0, 2) - STDERR_TAIL))
        log.error(
            "extract worker ended",
            extra={
                "reason": reason,
                "exit_code": self.process.returncode,
                "stderr": self.stderr.read().decode(errors="replace").strip(),
            },
        )
        self.close()
        return WorkerCrashError(reason)

    def close(self) -> None:
        self._stop()
        self.stderr.close()

    def _stop(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Workers:
    """``count`` worker processes, started at once (they load while the first pages are
    fetched); ``submit`` hands a page to an idle one. With ``count`` 0 pages are extracted
    on the calling thread, unguarded."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self.threads = ThreadPoolExecutor(max_workers=max(count, 1))
        self.closed = False
        for _ in range(count):
            self.idle.put(_Worker())

    def close(self) -> None:
        """Stop the workers (each finishes its page first)."""
        if self.closed:
            return
        self.closed = True
        self.threads.shutdown(cancel_futures=True)
        for _ in range(self.count):
            self.idle.get().close()

    def submit(self, body: bytes, content_type: str | None, **item: Any) -> Future[Extraction]:
        """The page's extraction to come (``extract_page``'s arguments)."""
        if self.count < 1:
            inline: Future[Extraction] = Future()
            inline.set_result(extract_page(body, content_type, **item))
            return inline
        return self.threads.submit(self._extract, (body, content_type, item))

    def _extract(self, job: tuple[bytes, str | None, dict[str, Any]]) -> Extraction:
        worker = self.idle.get()
        try:
            return worker.extract(job)
        except WorkerCrashError:
            worker = _Worker()
            raise
        finally:
            self.idle.put(worker)


_SHARED: dict[int, Workers] = {}


def shared(count: int) -> Workers:
    """This process's ``count`` workers: started at the first call and kept for later runs,
    like the embedding model, and stopped when the process exits (a worker whose parent
    dies reads the end of its input and exits too)."""
    if count not in _SHARED:
        _SHARED[count] = Workers(count)
        atexit.register(_SHARED[count].close)
    return _SHARED[count]


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Extract each pickled page from ``stdin`` onto ``stdout`` until it closes."""
    warm()
    while True:
        try:
            body, content_type, item = pickle.load(stdin)
        except EOFError:
            return
        pickle.dump(extract_page(body, content_type, **item), stdout)
        stdout.flush()


if __name__ == "__main__":
    # The parent winds the workers down (it closes their input): a Ctrl-C at the terminal
    # or a SIGTERM to the process group must not kill one mid-page, which would count the
    # page as a crash. A worker whose parent died reads the end of its input and exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)

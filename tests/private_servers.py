"""A PostgreSQL server and a Redis server of a test's own, to restart and kill at will.

``tests/test_celery_faults.py`` restarts PostgreSQL and kills Redis under a running Airflow
cluster; the machine's shared servers (5432, 6379) serve other tests and must never go
down. Both listen on 127.0.0.1 on a free port, keep their files in a temporary folder and
are gone when the block ends:

* ``PrivatePostgres``: ``initdb`` + ``pg_ctl`` of the newest PostgreSQL in
  ``/usr/lib/postgresql`` (pgvector installed for it: ``make pgvector``), trust auth, no
  fsync. PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user.
* ``PrivateRedis``: ``redis-server --save ''`` (nothing persisted: a restart loses every
  queued message, as a broker that dies without persistence does).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from tests.celery_cluster import free_port

HOST = "127.0.0.1"


def postgres_bin() -> Path:
    """The ``bin`` folder of the newest PostgreSQL server installed."""
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*") if p.name.isdigit() and (p / "bin" / "initdb").is_file()),
        key=lambda p: int(p.name),
    )
    if not versions:
        raise RuntimeError(f"no PostgreSQL server with initdb under {root}; install postgresql")
    return versions[-1] / "bin"


class PrivatePostgres:
    """``with PrivatePostgres() as pg:`` a server on ``pg.port``; ``pg.admin_url`` reaches it."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="storyline-faults-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.admin_url = f"postgresql+psycopg://postgres@{HOST}:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} exited {done.returncode}: {done.stderr[-2000:]}")

    def __enter__(self) -> PrivatePostgres:
        if self.user is not None:
            account = pwd.getpwnam(self.user)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        try:
            self._run(
                "initdb",
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
            self._pg_ctl("start")
        except BaseException:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -k {self.folder} -c fsync=off "
            "-c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o", options, action, *extra
        )

    def restart(self, mode: str = "fast") -> float:
        """``pg_ctl restart -m MODE``: every session is ended, the server is back; the
        seconds it took."""
        started = time.monotonic()
        self._pg_ctl("restart", "-m", mode)
        return time.monotonic() - started

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class PrivateRedis:
    """``with PrivateRedis() as broker:`` a Redis on ``broker.port``; ``broker.restart()``
    kills it with SIGKILL and starts a new, empty one on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="storyline-faults-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    HOST,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            client = redis.Redis(host=HOST, port=self.port)
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def _kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> float:
        """SIGKILL, then a new server on the same port (empty: nothing was saved); the
        seconds without a broker."""
        started = time.monotonic()
        self._kill()
        self._start()
        return time.monotonic() - started

    def __enter__(self) -> PrivateRedis:
        self._start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._kill()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

"""A real Airflow cluster with the CeleryExecutor, as separate processes from the project's venv.

Used by ``tests/test_celery_cluster.py`` and ``bench/dags.py``. It starts what a data
engineer deploys, each in its own process group and session: ``airflow db migrate`` on a
private PostgreSQL metadata database, the pool, the ``api-server`` (on a free loopback
port), the ``scheduler``, the ``dag-processor`` (on the checkout's ``dags/``) and N
``airflow celery worker`` processes, each with its own Celery node name and task-instance
hostname, on a Redis database number nobody else uses (flushed before and after). The
PostgreSQL server (``admin_url``) and the Redis port are parameters, so that
``tests/test_celery_faults.py`` can run the cluster on servers of its own and restart them.
Every
process it started, and every task process those started, is stopped on exit, also when
the caller fails. Nothing of the user's own Airflow is read: the environment starts from
``tests.airflow_runner.airflow_env`` (no ``AIRFLOW_*`` or ``STORYLINE_*`` of the caller).

Observation goes through what an operator has: the metadata database (runs, task
instances, hostnames), the task log files under ``AIRFLOW_HOME/logs``, and each worker's
own log (how long each Celery task held its slot).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psutil
import redis
import yaml
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from tests.airflow_runner import airflow_env

REPO = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
TERMINAL = frozenset({"success", "failed"})
WORKER_CELERY_CONFIG = json.dumps(
    {"imports": ["pipeline.worker"], "worker_proc_alive_timeout": 120}
)
VISIBILITY_TIMEOUT = "7200"
"""As docker-compose.yml: Redis hands an unacknowledged task to another worker after this
many seconds; twice the tasks' ``execution_timeout`` (docs/DEPLOYMENT.md, "Faults")."""


class ClusterError(RuntimeError):
    """The cluster did not come up, or a wait ran out; the message ends with the logs' tails."""


QUIET_SECONDS = 8
"""How long ``settle`` waits with no run active: an asset event becomes a run on a later
scheduler loop, so a moment with nothing running is not yet the end."""


def on_two_hosts(feeds_file_text: str) -> list[dict[str, Any]]:
    """The entries of a demo feeds file (served on 127.0.0.1) with every other one reached
    through the name ``localhost``: two hosts, so the feeds make two fetch batches."""
    feeds: list[dict[str, Any]] = yaml.safe_load(feeds_file_text)["feeds"]
    for feed in feeds[1::2]:
        feed["url"] = feed["url"].replace("//127.0.0.1:", "//localhost:")
    return feeds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def private_redis_db(port: int = REDIS_PORT) -> int:
    """A Redis database number that holds no key (the test's own broker), 1-15."""
    for number in range(15, 0, -1):
        client = redis.Redis(host=REDIS_HOST, port=port, db=number)
        try:
            if client.dbsize() == 0:
                return number
        finally:
            client.close()
    raise ClusterError("no empty Redis database among 1-15 for the test's broker")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            text_ = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text_.splitlines()[-lines:])


@dataclass
class SlotTime:
    """How long one Celery task (one Airflow task instance) held a worker slot."""

    worker: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    seconds: float


@dataclass
class CeleryCluster:
    """Start with ``with CeleryCluster(...) as cluster:``; everything stops on exit."""

    home: Path
    admin_url: str
    stories_url: str
    workers: int = 2
    concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    redis_port: int = REDIS_PORT
    processes: list[Process] = field(default_factory=list)
    stopped: list[Process] = field(default_factory=list)
    """Processes the caller killed on purpose (``kill_worker``): their logs, no longer watched."""

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.redis_db = private_redis_db(self.redis_port)
        self.metadata_name = f"storyline_airflow_{uuid.uuid4().hex[:10]}"
        admin = make_url(self.admin_url)
        self.metadata_url = admin.set(
            drivername="postgresql+psycopg2", database=self.metadata_name
        ).render_as_string(hide_password=False)
        # pre-ping: the faults test restarts the server under these engines.
        self._admin = create_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True
        )
        self._metadata: Engine | None = None

    # -- the environment every process shares ------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        broker = f"redis://{REDIS_HOST}:{self.redis_port}/{self.redis_db}"
        return airflow_env(
            self.home,
            PYTHONPATH=str(REPO),
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=self.metadata_url,
            AIRFLOW__CELERY__BROKER_URL=broker,
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+{self.metadata_url}",
            AIRFLOW__CELERY__WORKER_CONCURRENCY=str(self.concurrency),
            AIRFLOW__CORE__PARALLELISM="8",
            AIRFLOW__CORE__HOSTNAME_CALLABLE="tests.airflow_hostname.hostname",
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{self.port}/execution/",
            AIRFLOW__API__HOST="127.0.0.1",
            AIRFLOW__API__PORT=str(self.port),
            AIRFLOW__API__WORKERS="1",
            AIRFLOW__API_AUTH__JWT_SECRET=self._secret("jwt"),
            AIRFLOW__API__SECRET_KEY=self._secret("api"),
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
            # As docker-compose.yml: the task supervisor notices a finished task within 1 s
            # rather than 5 (see docs/DEPLOYMENT.md, "Worker slots").
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL="1",
            # As docker-compose.yml: each pool process loads the model once (pipeline/worker.py).
            AIRFLOW__CELERY__EXTRA_CELERY_CONFIG=WORKER_CELERY_CONFIG,
            # As docker-compose.yml: what makes a worker's death and a broker's restart
            # recoverable (docs/DEPLOYMENT.md, "Faults").
            AIRFLOW__CELERY__TASK_ACKS_LATE="True",
            AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER="1",
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=VISIBILITY_TIMEOUT,
            AIRFLOW_CONN_STORYLINE_DB=self.stories_url,
            **{**self.extra_env, **extra},
        )

    def _secret(self, name: str) -> str:
        if not hasattr(self, "_secrets"):
            self._secrets = {"jwt": secrets.token_hex(32), "api": secrets.token_hex(32)}
        return self._secrets[name]

    # -- life cycle ------------------------------------------------------------------------

    def __enter__(self) -> CeleryCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        started = time.perf_counter()
        self._flush_redis()
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.metadata_name}"'))
        self.airflow("db", "migrate", timeout=300)
        self.airflow(
            "pools", "set", "storyline_feeds", "8", "Storyline: feed and page fetches", timeout=120
        )
        self.spawn("api-server", [AIRFLOW, "api-server"])
        self.spawn("scheduler", [AIRFLOW, "scheduler"])
        self.spawn("dag-processor", [AIRFLOW, "dag-processor"])
        for number in range(1, self.workers + 1):
            self.start_worker(number)
        self.wait_for(self._api_healthy, "the api-server to answer /api/v2/monitor/health")
        self.wait_for(self.workers_ready, "every Celery worker to be ready")
        self.wait_for(self._dags_parsed, "the dag-processor to store every DAG")
        self.startup_seconds = time.perf_counter() - started

    @staticmethod
    def worker_name(number: int) -> str:
        return f"storyline-worker-{number}"

    def start_worker(self, number: int) -> Process:
        """``airflow celery worker`` number ``number``; wait for it with ``workers_ready``."""
        name = self.worker_name(number)
        return self.spawn(
            name,
            [
                AIRFLOW,
                "celery",
                "worker",
                "--concurrency",
                str(self.concurrency),
                "--celery-hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            STORYLINE_TEST_HOSTNAME=name,
        )

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL a worker and every process under it (pool processes, task supervisors,
        tasks) at once, as a machine or a container dying does; the pids killed."""
        (process,) = [p for p in self.processes if p.name == name]
        parent = psutil.Process(process.popen.pid)
        tree = [parent, *parent.children(recursive=True)]
        for proc in tree:
            with suppress(psutil.NoSuchProcess):
                proc.kill()
        with suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)
        psutil.wait_procs(tree, timeout=10)
        process.popen.wait(timeout=10)
        self.processes.remove(process)
        self.stopped.append(process)
        return [proc.pid for proc in tree]

    def spawn(self, name: str, command: list[str], **extra: str) -> Process:
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                command,
                env=self.env(**extra),
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Stop every process started (and their task processes): TERM, then KILL after 20 s."""
        tree: list[psutil.Process] = []
        for process in self.processes:
            try:
                parent = psutil.Process(process.popen.pid)
                tree += [parent, *parent.children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        # Workers first, so that no task is picked up while the rest goes down.
        for process in sorted(self.processes, key=lambda p: not p.name.startswith("storyline-")):
            if process.popen.poll() is None:
                with suppress(ProcessLookupError, psutil.NoSuchProcess):
                    os.killpg(process.popen.pid, signal.SIGTERM)
        _, alive = psutil.wait_procs(tree, timeout=20)
        for proc in alive:
            with suppress(ProcessLookupError, psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)
        for process in self.processes:
            with suppress(ProcessLookupError, psutil.NoSuchProcess):
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(timeout=10)
        self.processes.clear()
        if self._metadata is not None:
            self._metadata.dispose()
            self._metadata = None
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.metadata_name}" WITH (FORCE)'))
        self._admin.dispose()
        self._flush_redis()

    def leftover_pids(self) -> list[int]:
        """Processes still running whose environment names this cluster's AIRFLOW_HOME."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.environ().get("AIRFLOW_HOME") == str(self.home):
                    found.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def _flush_redis(self) -> None:
        client = redis.Redis(host=REDIS_HOST, port=self.redis_port, db=self.redis_db)
        try:
            client.flushdb()
        except redis.ConnectionError:  # a private server the caller already stopped
            pass
        finally:
            client.close()

    # -- commands and waits ----------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 120) -> str:
        """Run ``airflow ARGS`` as a user would; its output, or ClusterError on failure."""
        done = subprocess.run(
            [AIRFLOW, *args],
            env=self.env(),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 240) -> float:
        """Poll ``condition`` until true; the seconds it took. Fails fast if a process died."""
        start = time.monotonic()
        while not condition():
            for process in self.processes:
                if process.popen.poll() is not None:
                    raise ClusterError(
                        f"{process.name} exited {process.popen.returncode} while waiting for "
                        f"{what}:\n{process.tail()}"
                    )
            if time.monotonic() - start > timeout:
                tails = "\n".join(f"--- {p.name} ---\n{p.tail(15)}" for p in self.processes)
                raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")
            time.sleep(0.5)
        return time.monotonic() - start

    def _api_healthy(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/api/v2/monitor/health"
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def workers_ready(self) -> bool:
        """Every running worker has logged Celery's ``ready.``."""
        workers = [p for p in self.processes if p.name.startswith("storyline-worker-")]
        return all(re.search(rb"@\S+ ready\.", p.log.read_bytes()) for p in workers)

    def _dags_parsed(self) -> bool:
        try:
            rows = self.query("SELECT dag_id FROM dag WHERE dag_id LIKE 'storyline_%'")
        except Exception:  # the table appears with the first parse
            return False
        return len(rows) == len(list((REPO / "dags").glob("storyline_*.py")))

    # -- what an operator can see ----------------------------------------------------------

    @property
    def metadata(self) -> Engine:
        if self._metadata is None:
            self._metadata = create_engine(
                make_url(self.metadata_url).set(drivername="postgresql+psycopg"),
                pool_pre_ping=True,
            )
        return self._metadata

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.metadata.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(text(sql), params)]

    def run_ids(self, dag_ids: tuple[str, ...]) -> set[str]:
        return {row["run_id"] for dag_id in dag_ids for row in self.runs(dag_id)}

    def settle(self, dag_ids: tuple[str, ...], after: set[str], timeout: float = 300) -> float:
        """Wait until the runs of ``dag_ids`` not in ``after`` (run ids), and the runs they
        chain through assets, have ended; the seconds it took, ``QUIET_SECONDS`` included."""
        quiet_since: list[float] = []

        def done() -> bool:
            new = [r for d in dag_ids for r in self.runs(d) if r["run_id"] not in after]
            if self.active_runs() > 0 or any(r["state"] not in TERMINAL for r in new):
                quiet_since.clear()
                return False
            quiet_since.append(time.monotonic())
            return quiet_since[-1] - quiet_since[0] >= QUIET_SECONDS

        return self.wait_for(done, "the triggered runs and the runs they chain", timeout)

    def trigger(self, dag_id: str) -> str:
        """``airflow dags trigger``; the new run's id."""
        before = {row["run_id"] for row in self.runs(dag_id)}
        self.airflow("dags", "trigger", dag_id)
        (run_id,) = {row["run_id"] for row in self.runs(dag_id)} - before
        return str(run_id)

    def unpause(self, *dag_ids: str) -> None:
        pattern = "^(" + "|".join(re.escape(dag_id) for dag_id in dag_ids) + ")$"
        self.airflow("dags", "unpause", "--treat-dag-id-as-regex", "--yes", pattern)

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.query(
            "SELECT run_id, run_type, state, queued_at, start_date, end_date FROM dag_run "
            "WHERE dag_id = :dag_id ORDER BY id",
            dag_id=dag_id,
        )

    def active_runs(self) -> int:
        rows = self.query(
            "SELECT count(*) AS n FROM dag_run WHERE dag_id LIKE 'storyline_%' "
            "AND state IN ('queued', 'running')"
        )
        return int(rows[0]["n"])

    def task_instances(self, dag_id: str | None = None) -> list[dict[str, Any]]:
        where = "WHERE dag_id = :dag_id" if dag_id else "WHERE dag_id LIKE 'storyline_%'"
        return self.query(
            "SELECT dag_id, run_id, task_id, map_index, state, hostname, try_number, "
            "queued_dttm, start_date, end_date, duration FROM task_instance "
            f"{where} ORDER BY dag_id, run_id, task_id, map_index",
            dag_id=dag_id,
        )

    def task_log(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[Any]:
        """The task's log (first attempt) as Airflow wrote it: a list of JSON records."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        records = []
        for line in (folder / "attempt=1.log").read_text(encoding="utf-8").splitlines():
            if line.strip():
                records.append(json.loads(line))
        return records

    def slot_times(self) -> list[SlotTime]:
        """Each Celery task's time in its worker slot, from the workers' own logs."""
        found = []
        for process in self.processes:
            if not process.name.startswith("storyline-worker-"):
                continue
            log = process.log.read_text(encoding="utf-8", errors="replace")
            task_of = {
                match["id"]: (match["dag"], match["run"], match["task"], int(match["map"]))
                for match in re.finditer(
                    r"\[(?P<id>[0-9a-f-]{36})\] Executing workload in Celery: .*?"
                    r"task_id='(?P<task>[^']+)', dag_id='(?P<dag>[^']+)', run_id='(?P<run>[^']+)'"
                    r".*?map_index=(?P<map>-?\d+)",
                    log,
                )
            }
            for match in re.finditer(
                r"Task execute_workload\[(?P<id>[0-9a-f-]{36})\] succeeded in (?P<s>[0-9.]+)s", log
            ):
                if match["id"] in task_of:
                    dag_id, run_id, task_id, index = task_of[match["id"]]
                    found.append(
                        SlotTime(process.name, dag_id, run_id, task_id, index, float(match["s"]))
                    )
        return found

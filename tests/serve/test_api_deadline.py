"""The API against a database that accepted its connections and froze: every request that
reads the database is answered 503 within its deadline instead of hanging, and the API
recovers by itself when the database answers again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.freezing_proxy import FreezingProxy
from tests.serve.test_api import free_port

pytestmark = pytest.mark.postgres


@contextmanager
def serving(url: str, **settings: str) -> Iterator[str]:
    """``storyline serve`` on ``url`` with these settings in its environment; its address,
    once it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **settings}
    command = [sys.executable, "-m", "pipeline", "serve", "--port", str(port), "--db", url]
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    ) as process:
        try:
            started = time.monotonic()
            while True:
                try:
                    httpx.get(f"{base}/api/health", timeout=5)
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "storyline serve exited early"
                    assert time.monotonic() - started < 30, "storyline serve did not start"
                    time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()  # a server stuck on a frozen database (before: it was)
                raise


def test_a_frozen_database_is_answered_503_and_the_api_recovers(pg_schema_url: str) -> None:
    with (
        FreezingProxy(pg_schema_url) as proxy,
        serving(proxy.url, STORYLINE_API_TIMEOUT_SECONDS="4") as base,
    ):
        assert httpx.get(f"{base}/api/health", timeout=10).status_code == 200
        assert httpx.get(f"{base}/api/stories", timeout=10).json()["total"] == 0

        proxy.freeze()
        # Before: both waited for ever (httpx's timeout would fail the test).
        health = httpx.get(f"{base}/api/health", timeout=10)
        stories = httpx.get(f"{base}/api/stories", timeout=15)
        assert health.status_code == 503
        assert health.json() == {
            "detail": "the stories database is not answering (no answer within 3 s); retry later"
        }
        assert health.headers["retry-after"] == "3"
        assert stories.status_code == 503
        assert stories.json() == {
            "detail": "the stories database is not answering (no answer within 4 s); retry later"
        }
        # a client's mistake is still a 422, answered without the database
        assert httpx.get(f"{base}/api/stories?limit=0", timeout=10).status_code == 422
        for response in (health, stories):
            for secret in ("127.0.0.1", str(proxy.port), "postgres", "sekrit", "storyline_"):
                assert secret not in response.text

        proxy.thaw()
        started = time.monotonic()
        while (again := httpx.get(f"{base}/api/health", timeout=10)).status_code != 200:
            assert time.monotonic() - started < 20, again.text
            time.sleep(0.2)
        assert again.json()["stories"] == 0
        assert httpx.get(f"{base}/api/stories", timeout=10).json()["total"] == 0

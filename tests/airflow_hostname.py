"""``[core] hostname_callable`` for the real-cluster test: each Celery worker names itself.

Two workers on one machine would otherwise record the same task-instance hostname (the
machine's), and the test could not tell which worker ran a task. Kept apart from
``tests/celery_cluster.py`` so that every Airflow process imports only this.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``STORYLINE_TEST_HOSTNAME`` when set (one per worker), else the machine's name."""
    return os.environ.get("STORYLINE_TEST_HOSTNAME") or socket.getfqdn()

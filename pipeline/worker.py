"""Celery worker hook: each pool process loads the embedding model and the entity recogniser
once, for the tasks it forks.

Airflow 3 runs every task in a process of its own, which the task supervisor forks from the
Celery pool process that took the task. Loading the model there, once, hands it to every
embed task by the fork (``pipeline.embed.backends.load_embedder`` is cached per process),
instead of each task paying the import of sentence-transformers and the load (5-6 s here).

Enabled by the worker's Celery configuration (docker-compose.yml, docs/DEPLOYMENT.md),
``AIRFLOW__CELERY__EXTRA_CELERY_CONFIG`` set to
``{"imports": ["pipeline.worker"], "worker_proc_alive_timeout": 120}``.

Celery imports this module in the worker before it forks its pool; ``worker_process_init``
then runs in each pool process (the alive timeout, 4 s by default, must cover the load).

The chosen backend is preloaded, and nothing is encoded here: a process that has run a
model has started its threads, and a fork of it hangs on its first encode (tried with
PyTorch: a child of a parent that loaded the model encodes at once; a child of a parent that
also encoded one text never returns). The backends start their threads on the first encode,
and the ONNX export (which runs PyTorch) is made in a process of its own.

The pool's concurrency is how many embedding processes may share the machine's cores: unless
``STORYLINE_EMBED_PROCESSES`` is set, it is set here, in the environment the tasks inherit,
so each task's embedder takes its share of the cores (``pipeline.embed.backends.cpu``) and
finds the preloaded one under the same key.
No Airflow import: this is Celery only.
"""

from __future__ import annotations

import logging
import os
import time

from celery.signals import worker_process_init

from pipeline.errors import first_line

log = logging.getLogger(__name__)


def preload_model(**_: object) -> None:
    """Load the configured model into this pool process's cache; never fail the worker."""
    from pipeline.embed.backends import settings_embedder
    from pipeline.settings import Settings

    start = time.perf_counter()
    try:
        share_cores_with_the_pool()
        settings = Settings.load()
        settings_embedder(settings)
    except Exception as exc:  # the tasks load it themselves, and say why if they cannot
        log.warning("embedding model not preloaded", extra={"reason": first_line(exc)})
        return
    log.info(
        "embedding model preloaded for this worker's tasks",
        extra={
            "model": settings.model_name,
            "processes": settings.embed_processes,
            "seconds": round(time.perf_counter() - start, 3),
        },
    )


def share_cores_with_the_pool() -> None:
    """Set ``STORYLINE_EMBED_PROCESSES`` to this worker's concurrency, unless it is set."""
    from celery import current_app

    concurrency = current_app.conf.worker_concurrency
    if "STORYLINE_EMBED_PROCESSES" not in os.environ and concurrency:
        os.environ["STORYLINE_EMBED_PROCESSES"] = str(int(concurrency))


def preload_entity_model(**_: object) -> None:
    """Load the entity recogniser (spaCy) into this pool process's cache; never fail the
    worker. Nothing is run: loading starts no thread pool, so the forked tasks use it."""
    from pipeline.entities.model import load_ner
    from pipeline.settings import Settings

    start = time.perf_counter()
    try:
        settings = Settings.load()
        load_ner(settings.entities_model)
    except Exception as exc:  # the entity task loads it itself, and says why if it cannot
        log.warning("entity model not preloaded", extra={"reason": first_line(exc)})
        return
    log.info(
        "entity model preloaded for this worker's tasks",
        extra={"model": settings.entities_model, "seconds": round(time.perf_counter() - start, 3)},
    )


worker_process_init.connect(preload_model, weak=False)
worker_process_init.connect(preload_entity_model, weak=False)

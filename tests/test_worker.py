from __future__ import annotations

import os

import pytest
from celery import current_app

from pipeline import worker
from pipeline.embed.backends import settings_embedder
from pipeline.embed.backends.cpu import threads, usable_cores
from pipeline.settings import Settings


def unset_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """No STORYLINE_EMBED_PROCESSES, and none after the test (the worker sets it in os.environ)."""
    monkeypatch.setenv("STORYLINE_EMBED_PROCESSES", "0")  # recorded, so restored after
    monkeypatch.delenv("STORYLINE_EMBED_PROCESSES")


def test_the_pool_concurrency_becomes_the_embedding_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unset_processes(monkeypatch)
    monkeypatch.setitem(current_app.conf, "worker_concurrency", 4)
    worker.share_cores_with_the_pool()
    assert os.environ["STORYLINE_EMBED_PROCESSES"] == "4"
    assert Settings.load().embed_processes == 4


def test_an_operators_embedding_processes_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORYLINE_EMBED_PROCESSES", "1")
    monkeypatch.setitem(current_app.conf, "worker_concurrency", 4)
    worker.share_cores_with_the_pool()
    assert os.environ["STORYLINE_EMBED_PROCESSES"] == "1"


def test_a_task_finds_the_embedder_its_pool_process_preloaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unset_processes(monkeypatch)
    monkeypatch.setitem(current_app.conf, "worker_concurrency", 3)
    worker.preload_model()
    # the task (forked from the pool process, so with its environment) loads nothing anew
    settings = Settings.load()
    preloaded = settings_embedder(settings)
    assert settings_embedder(Settings.load()) is preloaded
    assert preloaded.threads == threads(0, 3, usable_cores())  # type: ignore[attr-defined]
    assert "onnxruntime" in preloaded.version

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.embed.backends import cpu, load_embedder, settings_embedder
from pipeline.embed.backends.pytorch import SentenceTransformerEmbedder
from pipeline.errors import ModelError
from pipeline.settings import DEFAULT_MODEL, Settings

TEXTS = ["Quake strikes off Chile", "Strong earthquake hits near Chile", "Rates left unchanged"]


def test_unknown_model_is_one_clear_error() -> None:
    with pytest.raises(ModelError, match="cannot load embedding model '/nonexistent/model'"):
        load_embedder("/nonexistent/model", True, "torch")


def test_torch_one_text_per_call_on_threads_gives_sentence_transformers_vectors() -> None:
    embedder = load_embedder(DEFAULT_MODEL, True, "torch", None, 2)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.threads == 2
    vectors = embedder.encode(TEXTS)
    model = embedder._model
    reference = model.encode(TEXTS, batch_size=32, normalize_embeddings=True)
    assert np.allclose(vectors, reference, atol=1e-5)
    assert np.array_equal(embedder.encode(TEXTS[1:2])[0], vectors[1])


def test_bf16_asked_on_a_cpu_without_it_runs_fp32_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    with caplog.at_level(logging.WARNING, logger="pipeline.embed.backends"):
        embedder = load_embedder(DEFAULT_MODEL, True, "torch-bf16", Path("/no-bf16"), 1)
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.getMessage().startswith("embedding in fp32: this CPU has no bfloat16")
    assert embedder.version == load_embedder(DEFAULT_MODEL, True, "torch").version


def test_bf16_on_a_cpu_with_it_records_its_own_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    embedder = load_embedder(DEFAULT_MODEL, True, "torch-bf16", Path("/bf16"), 1)
    fp32 = load_embedder(DEFAULT_MODEL, True, "torch")
    assert embedder.version == fp32.version + "; torch bf16"
    short = ["Quake off Chile", "Rates unchanged"]  # short: emulated bf16 is slow here
    vectors = embedder.encode(short)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.all(np.sum(vectors * fp32.encode(short), axis=1) >= 0.99)


def test_settings_give_each_process_its_share_of_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cpu, "usable_cores", lambda: 2)
    shared = settings_embedder(Settings.load(embed_backend="torch", embed_processes=2))
    alone = settings_embedder(Settings.load(embed_backend="torch"))
    chosen = settings_embedder(Settings.load(embed_backend="torch", embed_threads=3))
    assert isinstance(shared, SentenceTransformerEmbedder)
    assert isinstance(alone, SentenceTransformerEmbedder)
    assert isinstance(chosen, SentenceTransformerEmbedder)
    assert (shared.threads, alone.threads, chosen.threads) == (1, 2, 3)

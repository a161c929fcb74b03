from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline.embed.backends import Embedder, load_embedder
from pipeline.embed.backends.onnx_int8 import OnnxInt8Embedder, cache_file_name, cached_session
from pipeline.errors import ModelError
from pipeline.settings import DEFAULT_MODEL


def test_unknown_model_is_one_clear_error_on_onnx(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load embedding model '/nonexistent/model'"):
        OnnxInt8Embedder("/nonexistent/model", cache_dir=tmp_path)


def test_unwritable_cache_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ModelError, match=r"cannot export embedding model .* STORYLINE_EMBED_"):
        OnnxInt8Embedder(DEFAULT_MODEL, cache_dir=tmp_path / "file" / "cache")


# The real export, made once per session into the session's model cache (conftest).

PARAPHRASES = [
    "Magnitude 7 earthquake strikes off the coast of Chile",
    "A strong quake hit the sea near Chile",
    "Central bank leaves interest rates unchanged",
    "The museum opens a new wing for modern art",
    "Floods force thousands from their homes in Bangladesh after monsoon rains. "
    "Rescue teams reached villages cut off by the water on Tuesday.",
    "",
]


@pytest.fixture(scope="session")
def onnx_embedder(model_cache_dir: Path) -> Embedder:
    return load_embedder(DEFAULT_MODEL, True, "onnx-int8", model_cache_dir)


def test_onnx_vectors_match_torch(onnx_embedder: Embedder) -> None:
    vectors = onnx_embedder.encode(PARAPHRASES)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(PARAPHRASES), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reference = load_embedder(DEFAULT_MODEL).encode(PARAPHRASES)
    assert np.all(np.sum(vectors * reference, axis=1) >= 0.97)
    # the paraphrase ranks above unrelated news
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2
    # a text's vector depends on the text alone, not on the others encoded with it
    assert np.array_equal(onnx_embedder.encode(PARAPHRASES[3:4])[0], vectors[3])
    assert onnx_embedder.encode([]).shape == (0, 384)


def test_version_names_the_backend(onnx_embedder: Embedder) -> None:
    torch_version = load_embedder(DEFAULT_MODEL).version
    assert onnx_embedder.version.startswith(torch_version + "; onnxruntime ")
    assert onnx_embedder.version.endswith(" int8")
    assert "onnxruntime" not in torch_version


def test_cached_export_is_reused(onnx_embedder: Embedder, model_cache_dir: Path) -> None:
    path = model_cache_dir / cache_file_name(DEFAULT_MODEL)
    assert isinstance(onnx_embedder, OnnxInt8Embedder)
    assert onnx_embedder.path == path
    before = path.stat().st_mtime_ns
    again = OnnxInt8Embedder(DEFAULT_MODEL, cache_dir=model_cache_dir)
    assert not again.exported
    assert path.stat().st_mtime_ns == before
    assert [entry.name for entry in model_cache_dir.iterdir()] == [path.name]  # no leftovers
    assert np.array_equal(again.encode(PARAPHRASES), onnx_embedder.encode(PARAPHRASES))


def test_cache_key_names_the_model() -> None:
    assert cache_file_name(DEFAULT_MODEL).startswith("sentence-transformers-all-MiniLM-L6-v2-")
    assert cache_file_name(DEFAULT_MODEL) == cache_file_name(DEFAULT_MODEL)
    assert cache_file_name(DEFAULT_MODEL) != cache_file_name("all-MiniLM-L6-v2")


@pytest.mark.parametrize(
    ("damage", "exports"),
    [
        (None, 1),
        (lambda data: b"", 1),
        (lambda data: b"not an onnx model", 1),
        (lambda data: data[: len(data) // 2], 1),
        (lambda data: data, 0),
    ],
    ids=["missing", "empty", "garbage", "truncated", "intact"],
)
def test_unreadable_cache_is_replaced(
    onnx_embedder: Embedder,
    tmp_path: Path,
    damage: Callable[[bytes], bytes] | None,
    exports: int,
) -> None:
    assert isinstance(onnx_embedder, OnnxInt8Embedder)
    good = onnx_embedder.path
    path = tmp_path / good.name
    if damage is not None:
        path.write_bytes(damage(good.read_bytes()))
    calls: list[Path] = []

    def export(target: Path) -> None:  # a stand-in for the real export: copy a good file
        calls.append(target)
        shutil.copyfile(good, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)

    session, exported = cached_session(path, export)
    assert (len(calls), exported) == (exports, exports == 1)
    assert path.read_bytes() == good.read_bytes()
    assert [node.name for node in session.get_inputs()][:2] == ["input_ids", "attention_mask"]

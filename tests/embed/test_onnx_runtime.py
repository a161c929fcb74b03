from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline.embed.backends import Embedder, load_embedder, onnx_export, onnx_runtime
from pipeline.embed.backends.onnx_runtime import NoExportError, OnnxEmbedder, cache_file_name
from pipeline.embed.backends.sentence_model import load_sentence_transformer
from pipeline.errors import ModelError
from pipeline.settings import DEFAULT_MODEL

PARAPHRASES = [
    "Magnitude 7 earthquake strikes off the coast of Chile",
    "A strong quake hit the sea near Chile",
    "Central bank leaves interest rates unchanged",
    "The museum opens a new wing for modern art",
    "Floods force thousands from their homes in Bangladesh after monsoon rains. "
    "Rescue teams reached villages cut off by the water on Tuesday.",
    "",
]


def test_unknown_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load embedding model '/nonexistent/model'"):
        OnnxEmbedder("/nonexistent/model", cache_dir=tmp_path)
    # auto does not hide it behind PyTorch, which cannot load it either
    with pytest.raises(ModelError, match="cannot load embedding model '/nonexistent/model'"):
        load_embedder("/nonexistent/model", True, "auto", tmp_path)


def test_unwritable_cache_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(
        NoExportError, match=r"cannot keep the ONNX export .* STORYLINE_MODEL_CACHE"
    ):
        OnnxEmbedder(DEFAULT_MODEL, cache_dir=tmp_path / "file" / "cache")


def test_auto_falls_back_to_torch_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "file").write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="pipeline.embed.backends"):
        embedder = load_embedder(DEFAULT_MODEL, True, "auto", tmp_path / "file" / "cache", 2)
    assert "onnxruntime" not in embedder.version
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.getMessage() == "embedding with PyTorch: no checked ONNX export of the model"
    assert "cannot keep the ONNX export" in record.__dict__["reason"]
    assert embedder.encode(PARAPHRASES[:2]).shape == (2, 384)


# The real export, made once per session into the session's model cache (conftest).


@pytest.fixture(scope="session")
def onnx_embedder(model_cache_dir: Path) -> Embedder:
    return load_embedder(DEFAULT_MODEL, True, "auto", model_cache_dir, 2)


@pytest.fixture(scope="session")
def int8_embedder(model_cache_dir: Path) -> Embedder:
    return load_embedder(DEFAULT_MODEL, True, "onnx-int8", model_cache_dir, 2)


def test_the_default_is_the_fp32_export_with_pytorchs_vectors(onnx_embedder: Embedder) -> None:
    assert isinstance(onnx_embedder, OnnxEmbedder)
    vectors = onnx_embedder.encode(PARAPHRASES)
    assert vectors.dtype == np.float32
    assert vectors.shape == (len(PARAPHRASES), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reference = load_embedder(DEFAULT_MODEL, True, "torch").encode(PARAPHRASES)
    assert np.all(np.sum(vectors * reference, axis=1) >= 0.9999)
    # a text's vector depends on the text alone, not on the others encoded with it
    assert np.array_equal(onnx_embedder.encode(PARAPHRASES[3:4])[0], vectors[3])
    assert onnx_embedder.encode([]).shape == (0, 384)


def test_int8_is_close_and_says_so_in_its_version(
    int8_embedder: Embedder, onnx_embedder: Embedder
) -> None:
    vectors = int8_embedder.encode(PARAPHRASES)
    reference = onnx_embedder.encode(PARAPHRASES)
    assert np.all(np.sum(vectors * reference, axis=1) >= 0.95)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2
    torch_version = load_embedder(DEFAULT_MODEL, True, "torch").version
    assert int8_embedder.version.startswith(torch_version + "; onnxruntime ")
    assert int8_embedder.version.endswith(" int8")
    assert onnx_embedder.version.endswith(" fp32")
    assert "onnxruntime" not in torch_version


def test_cached_export_is_reused(onnx_embedder: Embedder, model_cache_dir: Path) -> None:
    path = model_cache_dir / cache_file_name(DEFAULT_MODEL, "fp32")
    assert isinstance(onnx_embedder, OnnxEmbedder)
    assert onnx_embedder.path == path
    before = path.stat().st_mtime_ns
    again = OnnxEmbedder(DEFAULT_MODEL, cache_dir=model_cache_dir)
    assert not again.exported
    assert path.stat().st_mtime_ns == before
    # no temporary folder left beside it (the export builds one, then renames the file out)
    assert not [e for e in model_cache_dir.iterdir() if e.name.startswith(f".{path.stem}-")]
    assert np.array_equal(again.encode(PARAPHRASES), onnx_embedder.encode(PARAPHRASES))


def test_cache_key_names_the_model_and_precision() -> None:
    name = cache_file_name(DEFAULT_MODEL, "fp32")
    assert name.startswith("sentence-transformers-all-MiniLM-L6-v2-")
    assert name.endswith("-fp32.onnx")
    assert name == cache_file_name(DEFAULT_MODEL, "fp32")
    assert name != cache_file_name("all-MiniLM-L6-v2", "fp32")
    assert name.removesuffix("-fp32.onnx") != cache_file_name(DEFAULT_MODEL, "int8").removesuffix(
        "-int8.onnx"
    )


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
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[bytes], bytes] | None,
    exports: int,
) -> None:
    assert isinstance(onnx_embedder, OnnxEmbedder)
    good = onnx_embedder.path
    path = tmp_path / good.name
    if damage is not None:
        path.write_bytes(damage(good.read_bytes()))
    calls: list[Path] = []

    def export(name: str, target: Path, precision: str, *, offline: bool) -> None:
        calls.append(target)  # a stand-in for the real export: copy a good file
        shutil.copyfile(good, target.with_suffix(".tmp"))
        os.replace(target.with_suffix(".tmp"), target)

    monkeypatch.setattr(onnx_runtime, "export", export)
    embedder = OnnxEmbedder(DEFAULT_MODEL, cache_dir=tmp_path)
    assert (len(calls), embedder.exported) == (exports, exports == 1)
    assert path.read_bytes() == good.read_bytes()
    assert embedder.encode(PARAPHRASES[:1]).shape == (1, 384)


def test_a_failed_export_is_remembered_and_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Path] = []

    def export(name: str, target: Path, precision: str, *, offline: bool) -> str:
        calls.append(target)
        return f"cannot export embedding model {name!r} to ONNX (no graph); set X"

    monkeypatch.setattr(onnx_runtime, "export", export)
    for _ in range(2):
        with pytest.raises(NoExportError, match=r"\(no graph\)"):
            OnnxEmbedder(DEFAULT_MODEL, cache_dir=tmp_path)
    assert len(calls) == 1
    (failed,) = tmp_path.glob("*.failed")
    assert "no graph" in failed.read_text()
    with caplog.at_level(logging.WARNING, logger="pipeline.embed.backends"):
        embedder = load_embedder(DEFAULT_MODEL, True, "auto", tmp_path, 1)
    assert "onnxruntime" not in embedder.version
    assert len(calls) == 1


def test_an_export_whose_vectors_differ_is_refused_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(onnx_export.MIN_COSINE, "fp32", 1.5)  # no file can pass
    model = load_sentence_transformer(DEFAULT_MODEL)
    target = tmp_path / "model.onnx"
    with pytest.raises(onnx_export.CheckFailedError, match=r"least cosine 1\.00000, 1\.5 needed"):
        onnx_export.export_checked(model, target, "fp32")
    assert list(tmp_path.iterdir()) == []


def test_export_command_prints_its_check_or_one_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "pipeline.embed.backends.onnx_export"]
    done = subprocess.run(
        [*command, DEFAULT_MODEL, str(tmp_path / "m.onnx")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    check = json.loads(done.stdout)
    assert (check["precision"], check["fused"], check["texts"]) == (
        "fp32",
        True,
        len(onnx_export.PROBE),
    )
    assert check["min_cosine"] >= 0.9999
    failed = subprocess.run(
        [*command, "/nonexistent/model", str(tmp_path / "n.onnx")], capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert (
        failed.stderr.strip()
        .splitlines()[-1]
        .startswith("cannot load embedding model '/nonexistent/model'")
    )
    assert "Traceback" not in failed.stderr
    assert not (tmp_path / "n.onnx").exists()


RACE = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    from pathlib import Path
    from pipeline.embed.backends.onnx_runtime import OnnxEmbedder
    embedder = OnnxEmbedder(sys.argv[1], cache_dir=Path(sys.argv[2]))
    print("shape", embedder.encode(["a text"]).shape, "exported", embedder.exported)
    """
)


def test_two_processes_starting_cold_export_once(tmp_path: Path) -> None:
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, DEFAULT_MODEL, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=600)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    said = "".join(outputs)
    assert said.count("exporting the embedding model to ONNX") == 1, said
    assert said.count("shape (1, 384)") == 2
    assert sorted(output.count("exported True") for output in outputs) == [0, 1]


FORKED = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from pipeline.embed.backends.onnx_runtime import OnnxEmbedder
    embedder = OnnxEmbedder(sys.argv[1], cache_dir=Path(sys.argv[2]), threads=2)
    pid = os.fork()  # as a Celery pool process forks a task after preloading
    if pid == 0:
        print("child", embedder.encode(["one", "two", "three"]).shape, flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent", embedder.encode(["one"]).shape)
    """
)


def test_a_loaded_export_embeds_in_a_forked_child(
    onnx_embedder: Embedder, model_cache_dir: Path
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKED, DEFAULT_MODEL, str(model_cache_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["child (3, 384)", "parent (1, 384)"]

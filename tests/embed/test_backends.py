from __future__ import annotations

import pytest

from pipeline.embed.backends import load_embedder
from pipeline.errors import ModelError


def test_unknown_model_is_one_clear_error() -> None:
    with pytest.raises(ModelError, match="cannot load embedding model '/nonexistent/model'"):
        load_embedder("/nonexistent/model")

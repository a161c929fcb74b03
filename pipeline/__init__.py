"""Storyline: news feeds in, evolving multi-outlet stories out.

A plain library: the CLI (``pipeline.cli``), the Airflow DAGs (``dags/``) and the tests
call the same stage functions (``pipeline.ingest.stage.ingest``, ``pipeline.embed.stage.embed``,
``pipeline.stories.stage.cluster``).

Nothing is imported here eagerly (the names below load on first use, PEP 562), so
``import pipeline.settings`` stays light: the DAG processor reads the settings while
parsing the DAG files without loading numpy, SQLAlchemy or the clustering code.
``pipeline.__version__`` is looked up on first use too (``pipeline.version``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.embed.stage import EmbedReport
    from pipeline.ingest.stage import IngestReport
    from pipeline.settings import Settings
    from pipeline.stories.stage import ClusterReport

    __version__: str

_EXPORTS = {
    "ClusterReport": "pipeline.stories.stage",
    "EmbedReport": "pipeline.embed.stage",
    "IngestReport": "pipeline.ingest.stage",
    "Settings": "pipeline.settings",
}

__all__ = ["ClusterReport", "EmbedReport", "IngestReport", "Settings"]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from pipeline.version import package_version

        return package_version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

"""Storyline: news feeds in, evolving multi-outlet stories out.

A plain library: the CLI (``pipeline.cli``), the Airflow DAGs (``dags/``) and the tests
call the same stage functions.
"""

from pipeline.cluster import ClusterReport, cluster
from pipeline.embed import EmbedReport, embed
from pipeline.ingest import IngestReport, ingest
from pipeline.settings import Settings

__all__ = [
    "ClusterReport",
    "EmbedReport",
    "IngestReport",
    "Settings",
    "cluster",
    "embed",
    "ingest",
]

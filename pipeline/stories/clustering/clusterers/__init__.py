"""Clusterers: the first grouping of a window, which the passes then refine.

A clusterer is a function from a ``Window`` to ``Labels``; ``CLUSTERERS`` names them as the
``cluster_algorithm`` setting does. Another idea is one more entry here.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.settings import ClusterAlgorithm
from pipeline.stories.clustering.clusterers.density import hdbscan_density
from pipeline.stories.clustering.clusterers.linkage import average_linkage
from pipeline.stories.clustering.labels import Labels
from pipeline.stories.clustering.window import Window

Clusterer = Callable[[Window], Labels]

CLUSTERERS: dict[ClusterAlgorithm, Clusterer] = {
    "average": average_linkage,
    "hdbscan": hdbscan_density,
}

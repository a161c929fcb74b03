"""The knobs of one clustering; recorded with every run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Algorithm = Literal["average", "hdbscan"]


@dataclass(frozen=True)
class ClusterParams:
    """The knobs of one clustering; recorded with every run."""

    algorithm: Algorithm = "average"
    link_distance: float = 0.6
    headline_link_slack: float = 0.05
    lexical_weight: float = 0.5
    lexical_chars: int = 3000
    full_body_chars: int = 600
    headline_share: float = 0.5
    min_cluster_size: int = 2
    max_cluster_distance: float = 0.75
    headline_merge_similarity: float = 0.6
    headline_merge_name_similarity: float = 0.1
    event_split_ratio: float = 0.4
    max_neighbours: int = 100
    max_component: int = 5000
    name_link_similarity: float = 0.15
    min_samples: int = 1
    cluster_selection_epsilon: float = 0.6

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

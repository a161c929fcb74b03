"""Windows the clustering tests share: groups of vectors and the texts of look-alike events."""

from __future__ import annotations

import numpy as np

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering.window import ArticleText


def blobs(sizes: list[int], dim: int = 32, spread: float = 0.05, seed: int = 7) -> np.ndarray:
    """Tight groups around random unit directions, in group order."""
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        center = rng.normal(size=dim)
        center /= np.linalg.norm(center)
        rows.append(center + rng.normal(scale=spread, size=(size, dim)))
    return np.vstack(rows).astype(np.float32)


ALGORITHMS = [ClusteringSettings(), ClusteringSettings(cluster_algorithm="hdbscan")]


SPRINGFIELD = "Springfield police said Homer Simpson was shot on Evergreen Terrace. " * 9


SHELBYVILLE = "Shelbyville officers found Tanner wounded near the Oak Avenue bridge. " * 9


SHOOTINGS = [
    ArticleText("Man shot in Springfield", SPRINGFIELD),
    ArticleText("Springfield shooting", SPRINGFIELD),
    ArticleText("Shooting in Springfield", SPRINGFIELD),
    ArticleText("Man shot in Shelbyville", SHELBYVILLE),
    ArticleText("Shelbyville shooting", SHELBYVILLE),
    ArticleText("Shooting in Shelbyville", SHELBYVILLE),
]


def look_alike_vectors() -> np.ndarray:
    """One topic: every article a small wobble around the same direction."""
    rng = np.random.default_rng(3)
    center = rng.normal(size=32)
    center /= np.linalg.norm(center)
    return (center + rng.normal(scale=0.15, size=(6, 32))).astype(np.float32)


def pair_at(cosine: float) -> np.ndarray:
    """Two unit vectors whose cosine is ``cosine``."""
    angle = np.arccos(cosine)
    return np.array([[1.0, 0.0, 0.0], [np.cos(angle), np.sin(angle), 0.0]], dtype=np.float32)


def broad_story_vectors() -> np.ndarray:
    """Two groups of six on one topic: each pair across the groups too far for the cut,
    even the looser one of headlines (cosine 0.33), the two centroids close (0.63), as
    headlines of one broad story are."""
    vectors = np.zeros((12, 15), dtype=np.float64)
    vectors[:, 0] = 1.0
    vectors[:6, 1] = vectors[6:, 2] = np.sqrt(0.3)
    vectors[np.arange(12), 3 + np.arange(12)] = np.sqrt(1.7)
    return vectors.astype(np.float32)


SEARCH = ["MH370 search widens", "Malaysia Airlines MH370: no trace", "Where is MH370?"]


SEARCH += ["Malaysia Airlines jet still missing", "MH370 families wait", "Malaysia MH370 radar"]


CRIMEA = ["Crimea votes on Sunday", "Putin defends Crimea move", "Kiev warns Crimea"]


CRIMEA += ["Crimea parliament declares", "Sevastopol fleet on alert", "Crimea referendum"]


BODIES = (
    "Officials in Kuala Lumpur gave no new details about the radar data today. " * 9,
    "Vietnamese navy ships combed waters south of Ca Mau for floating debris. " * 9,
)


QUAKE = "The earthquake collapsed houses and rescuers searched the rubble for survivors. "


CHILE = [
    (QUAKE + "In Valparaiso, Chile, the 7.1 shock killed 12, said Michelle Bachelet. " + note) * 3
    for note in ("Roads were cut.", "Power failed.", "Schools closed.")
]


NEPAL = [
    (QUAKE + "In Pokhara, Nepal, the 6.4 shock killed 40, said Sushil Koirala. " + note) * 3
    for note in ("Aid arrived.", "Tents went up.", "Rain fell.")
]


CHILE_RETOLD = [
    "Chile counts its dead in Valparaiso after the 7.1 quake; Bachelet visits. " * 4,
    "Bachelet tours Valparaiso: 12 killed as Chile shakes. " * 4,
    "Valparaiso rubble searched. Chile's 7.1 tremor killed 12, Bachelet says. " * 4,
]


ACCIDENT = "A child found a loaded handgun at home and shot himself by accident, police said. "


ACCIDENTS = [
    ACCIDENT * 3 + "The boy, 4, was taken to Springfield General; Homer Simpson was charged.",
    ACCIDENT * 3 + "Homer Simpson of Springfield, the boy's father, was charged on Monday.",
    ACCIDENT * 3 + "In Shelbyville, Tanner Jones, 6, was flown to Mercy Hospital.",
    ACCIDENT * 3 + "Mercy Hospital said Tanner Jones of Shelbyville is stable.",
    ACCIDENT * 3 + "The Ogdenville girl, 3, died at the scene on Maple Road.",
    ACCIDENT * 3 + "Capital City detectives said the toddler, 2, is recovering.",
]

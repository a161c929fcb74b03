from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]
from scipy.spatial.distance import pdist  # type: ignore[import-untyped]

from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering import cluster_vectors
from pipeline.stories.clustering.labels import NOISE, canonical_labels
from pipeline.stories.clustering.vectors import centroid
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


@pytest.mark.parametrize("params", ALGORITHMS, ids=["average", "hdbscan"])
def test_separate_groups_become_separate_clusters(params: ClusteringSettings) -> None:
    vectors = blobs([5, 4, 3])
    labels = cluster_vectors(vectors, params)
    assert labels.tolist() == [0] * 5 + [1] * 4 + [2] * 3


def test_labels_follow_first_member_and_are_deterministic() -> None:
    vectors = blobs([3, 6])[::-1].copy()
    first = cluster_vectors(vectors, ClusteringSettings())
    assert first.tolist() == [0] * 6 + [1] * 3
    assert cluster_vectors(vectors, ClusteringSettings()).tolist() == first.tolist()


def test_outlier_far_from_every_group_is_noise() -> None:
    rng = np.random.default_rng(1)
    stray = rng.normal(size=(1, 32)).astype(np.float32)
    vectors = np.vstack([blobs([4, 4]), stray])
    labels = cluster_vectors(vectors, ClusteringSettings())
    assert labels[-1] == NOISE
    assert set(labels[:-1].tolist()) == {0, 1}


@pytest.mark.parametrize("count", [0, 1], ids=["empty", "single"])
def test_too_few_articles_are_all_noise(count: int) -> None:
    labels = cluster_vectors(
        blobs([count]) if count else np.zeros((0, 8), np.float32), ClusteringSettings()
    )
    assert labels.tolist() == [NOISE] * count


def test_cap_on_spread_drops_far_members() -> None:
    vectors = blobs([6, 6], spread=0.02)
    loose = ClusteringSettings(max_cluster_distance=2.0)
    assert cluster_vectors(vectors, loose).tolist() == [0] * 6 + [1] * 6
    impossible = ClusteringSettings(max_cluster_distance=1e-6)
    assert cluster_vectors(vectors, impossible).tolist() == [NOISE] * 12
    off = ClusteringSettings(max_cluster_distance=None)
    assert cluster_vectors(vectors, off).tolist() == [0] * 6 + [1] * 6


def test_canonical_labels() -> None:
    raw = np.array([5, -1, 2, 5, 2, 9])
    assert canonical_labels(raw).tolist() == [0, NOISE, 1, 0, 1, 2]


def test_centroid_is_unit_mean_direction() -> None:
    vectors = np.array([[1, 0], [0, 2]], dtype=np.float32)
    assert np.allclose(centroid(vectors), [np.sqrt(0.5), np.sqrt(0.5)])


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


def test_words_tell_look_alike_events_apart() -> None:
    vectors = look_alike_vectors()
    assert cluster_vectors(vectors, ClusteringSettings()).tolist() == [0] * 6
    assert cluster_vectors(vectors, ClusteringSettings(), SHOOTINGS).tolist() == [0] * 3 + [1] * 3


def test_headlines_only_are_clustered_on_vectors_alone() -> None:
    vectors = look_alike_vectors()
    headlines = [ArticleText(text.title, "") for text in SHOOTINGS]
    assert cluster_vectors(vectors, ClusteringSettings(), headlines).tolist() == [0] * 6


def pair_at(cosine: float) -> np.ndarray:
    """Two unit vectors whose cosine is ``cosine``."""
    angle = np.arccos(cosine)
    return np.array([[1.0, 0.0, 0.0], [np.cos(angle), np.sin(angle), 0.0]], dtype=np.float32)


def test_headlines_are_cut_looser_than_full_articles() -> None:
    """A headline's embedding is noisier than a headline and its lead: a pair at cosine
    distance 0.63 is one story as two headlines, two stories as two full articles."""
    vectors = pair_at(0.37)
    params = ClusteringSettings(lexical_weight=0.0)  # the embedding alone, for both
    headlines = [ArticleText("Ferry sinks off Bali", ""), ArticleText("Bali ferry lost", "")]
    body = "The ferry sank in rough seas near the island on Tuesday night. " * 12
    full = [ArticleText(text.title, body) for text in headlines]
    assert cluster_vectors(vectors, params, headlines).tolist() == [0, 0]
    assert cluster_vectors(vectors, params, full).tolist() == [NOISE, NOISE]
    same_cut = ClusteringSettings(lexical_weight=0.0, headline_link_slack=0.0)
    assert cluster_vectors(vectors, same_cut, headlines).tolist() == [NOISE, NOISE]


def test_texts_must_match_vectors() -> None:
    with pytest.raises(ValueError, match="one text per vector"):
        cluster_vectors(blobs([3]), ClusteringSettings(), SHOOTINGS)


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9], ids=["tight", "default", "loose"])
def test_average_linkage_equals_the_dense_computation(cut: float) -> None:
    """Splitting the window into components first must not change the result."""
    vectors = blobs([8, 5, 7, 3, 6], spread=0.25, seed=11)
    params = ClusteringSettings(link_distance=cut, max_cluster_distance=2.0)
    dense = fcluster(
        linkage(pdist(vectors.astype(np.float64), "cosine"), method="average"),
        t=cut,
        criterion="distance",
    )
    sizes = np.bincount(dense)
    expected = canonical_labels(np.where(sizes[dense] >= 2, dense, NOISE).astype(np.int64))
    assert cluster_vectors(vectors, params).tolist() == expected.tolist()


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


@pytest.mark.parametrize(
    ("titles", "bodies", "expected"),
    [
        (SEARCH + SEARCH[::-1], ("", ""), [0] * 12),
        (SEARCH + CRIMEA, ("", ""), [0] * 6 + [1] * 6),
        (SEARCH + SEARCH[::-1], BODIES, [0] * 6 + [1] * 6),
    ],
    ids=["headlines-sharing-names-join", "headlines-without-shared-names", "bodies-left-alone"],
)
def test_second_pass_joins_headline_clusters_of_one_story(
    titles: list[str], bodies: tuple[str, str], expected: list[int]
) -> None:
    vectors = broad_story_vectors()
    texts = [ArticleText(title, bodies[row // 6]) for row, title in enumerate(titles)]
    assert cluster_vectors(
        vectors, ClusteringSettings(headline_merge_similarity=None), texts
    ).tolist() == ([0] * 6 + [1] * 6)
    assert cluster_vectors(vectors, ClusteringSettings(), texts).tolist() == expected


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


@pytest.mark.parametrize(
    ("bodies", "expected"),
    [
        (CHILE + NEPAL, [0] * 3 + [1] * 3),
        (CHILE + CHILE_RETOLD, [0] * 6),
    ],
    ids=["two-earthquakes-split", "one-earthquake-retold-stays-whole"],
)
def test_a_cluster_of_two_look_alike_events_splits_on_names(
    bodies: list[str], expected: list[int]
) -> None:
    """Vectors alone join all six (lexical weight 0); the names in the bodies decide."""
    vectors = look_alike_vectors()
    texts = [ArticleText("Earthquake", body) for body in bodies]
    params = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None)
    assert cluster_vectors(vectors, params, texts).tolist() == expected
    off = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None, event_split_ratio=None)
    assert cluster_vectors(vectors, off, texts).tolist() == [0] * 6


def test_headline_clusters_are_not_split_on_names() -> None:
    vectors = look_alike_vectors()
    texts = [ArticleText(body[:90], "") for body in CHILE + NEPAL]
    assert (
        cluster_vectors(vectors, ClusteringSettings(lexical_weight=0.0), texts).tolist() == [0] * 6
    )


def test_lead_sentence_titles_with_short_bodies_are_split_on_names() -> None:
    """Some sources give the lead sentence as the title and cut the body short: the title
    and body together have enough names to judge, though the body alone is brief."""
    vectors = look_alike_vectors()
    texts = [ArticleText(body[:200], body[200:350]) for body in CHILE + NEPAL]
    params = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None)
    assert all(len(text.body) / params.lexical_full_body_chars < 0.5 for text in texts)
    assert cluster_vectors(vectors, params, texts).tolist() == [0] * 3 + [1] * 3


ACCIDENT = "A child found a loaded handgun at home and shot himself by accident, police said. "
ACCIDENTS = [
    ACCIDENT * 3 + "The boy, 4, was taken to Springfield General; Homer Simpson was charged.",
    ACCIDENT * 3 + "Homer Simpson of Springfield, the boy's father, was charged on Monday.",
    ACCIDENT * 3 + "In Shelbyville, Tanner Jones, 6, was flown to Mercy Hospital.",
    ACCIDENT * 3 + "Mercy Hospital said Tanner Jones of Shelbyville is stable.",
    ACCIDENT * 3 + "The Ogdenville girl, 3, died at the scene on Maple Road.",
    ACCIDENT * 3 + "Capital City detectives said the toddler, 2, is recovering.",
]


def test_members_that_name_nothing_in_common_leave_the_cluster() -> None:
    """Six look-alike accidents join on vectors and topic words; names keep the two that
    were each reported twice and send the two reported once to noise."""
    vectors = look_alike_vectors()
    texts = [ArticleText("Child shoots himself", body) for body in ACCIDENTS]
    params = ClusteringSettings(lexical_weight=0.0, name_link_similarity=0.15)
    assert cluster_vectors(vectors, params, texts).tolist() == [0, 0, 1, 1, NOISE, NOISE]
    off = ClusteringSettings(lexical_weight=0.0, name_link_similarity=None, event_split_ratio=None)
    assert cluster_vectors(vectors, off, texts).tolist() == [0] * 6


def test_a_component_too_large_is_cut_into_pieces_that_fit() -> None:
    """Five groups bridged by weak pairs form one component; with room for 10 articles at
    a time the weakest pairs go first: no piece is larger, and no group is torn apart."""
    vectors = blobs([8, 5, 7, 3, 6], spread=0.05, seed=11)
    bridge = ClusteringSettings(link_distance=1.05, max_cluster_distance=2.0)  # every pair links
    assert cluster_vectors(vectors, bridge).tolist() == [0] * 29
    guarded = ClusteringSettings(link_distance=1.05, max_cluster_distance=2.0, max_component=10)
    labels = cluster_vectors(vectors, guarded)
    assert np.bincount(labels[labels != NOISE]).max() <= 10
    groups = np.repeat(np.arange(5), [8, 5, 7, 3, 6])
    assert all(len(set(labels[groups == group].tolist())) == 1 for group in range(5))
    assert len(set(labels.tolist())) >= 3
    assert cluster_vectors(vectors, guarded).tolist() == labels.tolist()


def test_keeping_few_neighbours_still_finds_tight_groups() -> None:
    vectors = blobs([8, 5, 7, 3, 6], spread=0.05, seed=11)
    expected = cluster_vectors(vectors, ClusteringSettings())
    assert (
        cluster_vectors(vectors, ClusteringSettings(max_neighbours=3)).tolist() == expected.tolist()
    )
    assert len(set(expected.tolist())) == 5

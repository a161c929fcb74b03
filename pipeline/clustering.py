"""Clustering a window of articles into candidate stories. Pure: arrays and texts in, labels out."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from models.types import FloatArray

Labels = npt.NDArray[np.int64]
NOISE = -1
Algorithm = Literal["average", "hdbscan"]
_BLOCK = 2048
"""Rows of the similarity matrix computed at once: bounds memory at _BLOCK x window floats."""
_HEADLINE_SHARE = 0.5
"""A cluster whose mean body share (body length over full_body_chars, at most 1) is below
this is a cluster of headlines, which the second merge pass may join."""
_NAME = re.compile(r"\b(?:[A-Z][\w'\-]*|\d[\d,.]*\d|\d)\b")
"""Capitalised words and numbers: names, places, flight numbers, tolls."""
_NOT_NAMES = frozenset(
    "a after an and are as at before but by can for from he her his how i in is it its may "  # noqa: SIM905
    "new of on or said says she that the their they this to was we were what when who why "
    "will with".split()
)
"""Capitalised only because they open a sentence or a Title Case headline."""


@dataclass(frozen=True)
class ArticleText:
    """What the clusterer reads of an article besides its vector."""

    title: str
    body: str


@dataclass(frozen=True)
class ClusterParams:
    """The knobs of one clustering; recorded with every run."""

    algorithm: Algorithm = "average"
    link_distance: float = 0.6
    lexical_weight: float = 0.5
    lexical_chars: int = 3000
    full_body_chars: int = 600
    min_cluster_size: int = 2
    max_cluster_distance: float = 0.75
    headline_merge_similarity: float = 0.6
    headline_merge_name_similarity: float = 0.1
    min_samples: int = 1
    cluster_selection_epsilon: float = 0.6

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def normalise(vectors: FloatArray) -> FloatArray:
    """Rows scaled to unit length, so euclidean distance orders pairs as cosine distance does."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.asarray(vectors / norms, dtype=np.float32)


def centroid(vectors: FloatArray) -> FloatArray:
    """The unit-length mean direction of a set of vectors."""
    mean = normalise(vectors).mean(axis=0, keepdims=True)
    unit: FloatArray = normalise(mean)[0]
    return unit


def cluster_vectors(
    vectors: FloatArray, params: ClusterParams, texts: Sequence[ArticleText] | None = None
) -> Labels:
    """Label each row with a cluster number (0, 1, ...) or ``NOISE``.

    ``average`` (the default): average-linkage agglomeration on a blend of embedding cosine
    and TF-IDF cosine of the texts, cut at ``link_distance``. Embeddings of one topic sit
    close together (every shooting reads alike), the words that differ (places, names,
    numbers) tell events apart; a headline alone carries too few words for TF-IDF to be
    trusted, so the lexical weight of a pair grows with the shorter body, up to
    ``full_body_chars``. Headlines alone leave a broad story (hundreds of differently
    worded headlines) in many clusters, so a second pass joins clusters of headlines whose
    centroids are close and whose names (capitalised words, numbers) are shared; see
    ``_merge_headline_clusters``. ``hdbscan``: the earlier density clustering on vectors only.

    Either way, members farther than ``max_cluster_distance`` (cosine) from the centroid of
    the rest become noise, which caps how far a story can spread; clusters smaller than
    ``min_cluster_size`` are noise. Cluster numbers are renumbered by their first row, so
    the same input in the same order always gives the same labels.
    """
    count = vectors.shape[0]
    if count < params.min_cluster_size or count < 2:
        return np.full(count, NOISE, dtype=np.int64)
    unit = normalise(vectors).astype(np.float64)
    if params.algorithm == "hdbscan":
        raw = _hdbscan(unit, params)
    else:
        raw = _average_linkage(unit, _lexical(texts, count, params), params)
    capped = _cap_spread(unit, raw, params)
    if params.algorithm == "average":
        merged = _merge_headline_clusters(unit, capped, texts, params)
        capped = _cap_spread(unit, merged, params)
    return canonical_labels(capped)


@dataclass(frozen=True)
class _Lexical:
    tfidf: sparse.csr_matrix
    """Unit-length TF-IDF rows (all zero for a text with no known words)."""
    weight: npt.NDArray[np.float64]
    """Per article, how much its words may count: lexical_weight scaled by body length."""


def _lexical(texts: Sequence[ArticleText] | None, count: int, params: ClusterParams) -> _Lexical:
    weight = np.zeros(count, dtype=np.float64)
    empty = sparse.csr_matrix((count, 1), dtype=np.float64)
    if texts is None or params.lexical_weight == 0:
        return _Lexical(empty, weight)
    if len(texts) != count:
        raise ValueError(f"{len(texts)} texts for {count} vectors; give one text per vector")
    from sklearn.feature_extraction.text import TfidfVectorizer

    documents = [f"{t.title}. {t.body[: params.lexical_chars]}" for t in texts]
    try:
        # IDF from the window itself: what is common this week (the topic) weighs little.
        matrix = TfidfVectorizer(
            sublinear_tf=True, stop_words="english", dtype=np.float64
        ).fit_transform(documents)
    except ValueError:  # no word survives stop-word removal in the whole window
        return _Lexical(empty, weight)
    full = max(params.full_body_chars, 1)
    lengths = np.array([len(t.body.strip()) for t in texts], dtype=np.float64)
    weight = params.lexical_weight * np.minimum(lengths / full, 1.0)
    return _Lexical(sparse.csr_matrix(matrix), weight)


def _blend(
    unit: npt.NDArray[np.float64], lexical: _Lexical, rows: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Blended similarity of ``rows`` against ``rows`` (square, dense)."""
    embedding = unit[rows] @ unit[rows].T
    words = (lexical.tfidf[rows] @ lexical.tfidf[rows].T).toarray()
    mix = np.minimum(lexical.weight[rows][:, None], lexical.weight[rows][None, :])
    return np.asarray((1 - mix) * embedding + mix * words)


def _average_linkage(
    unit: npt.NDArray[np.float64], lexical: _Lexical, params: ClusterParams
) -> Labels:
    """Average linkage cut at ``link_distance``, exactly, without an n x n matrix.

    Two groups merge only if their mean similarity reaches the cut, so at least one pair
    across them does: every final cluster lies inside one connected component of the graph
    of pairs at least that similar. The graph is built in row blocks; the dense linkage then
    runs per component, so cost follows the largest component, not the window.
    """
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]
    from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

    count = unit.shape[0]
    least = 1.0 - params.link_distance
    sources: list[npt.NDArray[np.int64]] = []
    targets: list[npt.NDArray[np.int64]] = []
    for start in range(0, count, _BLOCK):
        stop = min(start + _BLOCK, count)
        embedding = unit[start:stop] @ unit.T
        words = (lexical.tfidf[start:stop] @ lexical.tfidf.T).toarray()
        mix = np.minimum(lexical.weight[start:stop, None], lexical.weight[None, :])
        similar = (1 - mix) * embedding + mix * words >= least
        row, col = np.nonzero(similar)
        sources.append(row.astype(np.int64) + start)
        targets.append(col.astype(np.int64))
    source, target = np.concatenate(sources), np.concatenate(targets)
    graph = sparse.csr_matrix((np.ones(source.shape[0]), (source, target)), shape=(count, count))
    _, component = connected_components(graph, directed=False)

    labels = np.full(count, NOISE, dtype=np.int64)
    next_label = 0
    for members in _groups(component):
        if members.shape[0] < 2:
            continue
        distance = 1.0 - _blend(unit, lexical, members)
        distance = np.clip((distance + distance.T) / 2, 0.0, 2.0)
        np.fill_diagonal(distance, 0.0)
        condensed = distance[np.triu_indices(members.shape[0], k=1)]
        tree = linkage(condensed, method="average")
        cut = fcluster(tree, t=params.link_distance, criterion="distance").astype(np.int64)
        labels[members] = cut + next_label
        next_label += int(cut.max()) + 1
    sizes = np.bincount(labels[labels != NOISE], minlength=max(next_label, 1))
    small = (labels != NOISE) & (sizes[np.maximum(labels, 0)] < params.min_cluster_size)
    labels[small] = NOISE
    return labels


def _merge_headline_clusters(
    unit: npt.NDArray[np.float64],
    labels: Labels,
    texts: Sequence[ArticleText] | None,
    params: ClusterParams,
) -> Labels:
    """Join clusters of headlines whose centroids have at least ``headline_merge_similarity``
    cosine and whose names at least ``headline_merge_name_similarity`` TF-IDF cosine.

    The pair cut keeps headline-only clusters apart when they are worded differently; the
    centroid of a cluster is steadier than any pair, and shared names (a flight number, a
    person) confirm the story. Clusters with bodies are left alone: the cut has already read
    their words, and there look-alike events (same topic, other names) would merge.
    Joined transitively, so the result does not depend on the order of pairs.
    """
    found = sorted(set(labels.tolist()) - {NOISE})
    if texts is None or len(found) < 2:
        return labels
    from scipy.cluster.hierarchy import DisjointSet
    from sklearn.feature_extraction.text import TfidfVectorizer

    full = max(params.full_body_chars, 1)
    share = np.array([min(len(t.body.strip()) / full, 1.0) for t in texts], dtype=np.float64)
    headline = [label for label in found if share[labels == label].mean() < _HEADLINE_SHARE]
    if len(headline) < 2:
        return labels
    documents = [f"{t.title}. {t.body[: params.full_body_chars]}" for t in texts]
    try:
        names = TfidfVectorizer(analyzer=_names, sublinear_tf=True, dtype=np.float64).fit(documents)
    except ValueError:  # no name in the whole window
        return labels
    members = [np.flatnonzero(labels == label) for label in headline]
    centres = np.stack([normalise(unit[rows].mean(axis=0, keepdims=True))[0] for rows in members])
    joined = names.transform([" ".join(documents[i] for i in rows) for rows in members])
    close = (centres @ centres.T >= params.headline_merge_similarity) & (
        (joined @ joined.T).toarray() >= params.headline_merge_name_similarity
    )
    groups = DisjointSet(range(len(headline)))
    for first, second in zip(*np.nonzero(np.triu(close, k=1)), strict=True):
        groups.merge(int(first), int(second))
    out = labels.copy()
    for index, rows in enumerate(members):
        out[rows] = headline[groups[index]]
    return out


def _names(document: str) -> list[str]:
    """The capitalised words and numbers of a text, lower-cased."""
    words = (match.group(0).lower() for match in _NAME.finditer(document))
    return [word for word in words if word not in _NOT_NAMES]


def _groups(component: npt.NDArray[np.int32]) -> list[npt.NDArray[np.int64]]:
    """Row indices of each component, in order of their first row."""
    order = np.argsort(component, kind="stable")
    bounds = np.flatnonzero(np.diff(component[order])) + 1
    groups = [g.astype(np.int64) for g in np.split(order, bounds)]
    return sorted(groups, key=lambda g: int(g[0]))


def _hdbscan(unit: npt.NDArray[np.float64], params: ClusterParams) -> Labels:
    import hdbscan

    with warnings.catch_warnings():
        # hdbscan calls sklearn APIs that warn about upcoming renames; nothing we can act on.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        clusterer = hdbscan.HDBSCAN(
            min_cluster_size=params.min_cluster_size,
            min_samples=params.min_samples,
            cluster_selection_epsilon=params.cluster_selection_epsilon,
            metric="euclidean",
            core_dist_n_jobs=1,
        )
        return np.asarray(clusterer.fit_predict(unit), dtype=np.int64)


def _cap_spread(unit: npt.NDArray[np.float64], labels: Labels, params: ClusterParams) -> Labels:
    """Drop members whose cosine distance to the rest of their cluster exceeds the cap.

    The distance is to the centroid of the *other* members: in a small cluster an outlier
    pulls the plain centroid towards itself and would hide.
    """
    out = labels.copy()
    for label in np.unique(labels[labels != NOISE]):
        members = np.flatnonzero(labels == label)
        total = unit[members].sum(axis=0)
        others = total[None, :] - unit[members]
        norms = np.linalg.norm(others, axis=1)
        norms[norms == 0] = 1.0
        similarity = np.einsum("ij,ij->i", unit[members], others) / norms
        out[members[1.0 - similarity > params.max_cluster_distance]] = NOISE
        if np.count_nonzero(out == label) < params.min_cluster_size:
            out[members] = NOISE
    return out


def canonical_labels(labels: Labels) -> Labels:
    """Renumber clusters 0..k-1 in order of their first member; noise stays ``NOISE``."""
    out = np.full(labels.shape[0], NOISE, dtype=np.int64)
    mapping: dict[int, int] = {}
    for index, label in enumerate(labels.tolist()):
        if label == NOISE:
            continue
        out[index] = mapping.setdefault(label, len(mapping))
    return out

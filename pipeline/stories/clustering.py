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
_BLOCK_CELLS = 16_000_000
"""Cells of the similarity matrix computed at once (rows x window), ~128 MB per float64
array: bounds the memory of the graph's construction whatever the window's size."""
_HEADLINE_SHARE = 0.5
"""A cluster whose mean text share (title and body length over full_body_chars, at most 1)
is below this is a cluster of headlines: too few names to be judged by the name passes,
and the headline merge pass may join it."""
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
    headline_link_slack: float = 0.05
    lexical_weight: float = 0.5
    lexical_chars: int = 3000
    full_body_chars: int = 600
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
    ``_merge_headline_clusters``. Before that, clusters of full articles are checked by
    their names (capitalised words, numbers): members that name nothing another member
    names leave (``_require_shared_names``), and a cluster that holds two events of one
    kind (two earthquakes, two pirate attacks) is cut in two when its halves name
    different things (``_split_events``). ``hdbscan``: the earlier density clustering on
    vectors only.

    Either way, members farther than ``max_cluster_distance`` (cosine) from the centroid of
    the rest become noise, which caps how far a story can spread; clusters smaller than
    ``min_cluster_size`` are noise. Cluster numbers are renumbered by their first row, so
    the same input in the same order always gives the same labels.
    """
    count = vectors.shape[0]
    if count < params.min_cluster_size or count < 2:
        return np.full(count, NOISE, dtype=np.int64)
    unit = normalise(vectors).astype(np.float64)
    read = _read(texts, count, params)
    if params.algorithm == "hdbscan":
        raw = _hdbscan(unit, params)
    else:
        raw = _average_linkage(unit, _lexical(read, count, params), params)
    capped = _cap_spread(unit, raw, params)
    if params.algorithm == "average":
        split = _split_events(_require_shared_names(capped, read, params), read, params)
        merged = _merge_headline_clusters(unit, split, read, params)
        capped = _cap_spread(unit, merged, params)
    return canonical_labels(capped)


@dataclass(frozen=True)
class _Lexical:
    tfidf: sparse.csr_matrix
    """Unit-length TF-IDF rows (all zero for a text with no known words)."""
    weight: npt.NDArray[np.float64]
    """Per article, how much its words may count: lexical_weight scaled by body length."""
    share: npt.NDArray[np.float64]
    """Per article, its text share (1 where the texts are unknown): where its pairs are cut,
    from ``link_distance + headline_link_slack`` (a bare headline) to ``link_distance``."""


@dataclass(frozen=True)
class _Read:
    """What the passes read of the window's texts, computed once."""

    texts: Sequence[ArticleText]
    documents: list[str]
    """Title and the first ``lexical_chars`` of the body."""
    share: npt.NDArray[np.float64]
    """Body length over ``full_body_chars``, at most 1: how much the words may be trusted."""
    text_share: npt.NDArray[np.float64]
    """Title and body length over ``full_body_chars``, at most 1: whether there are names
    to read. A lead sentence given as the title counts (some sources cut the body short)."""


def _read(texts: Sequence[ArticleText] | None, count: int, params: ClusterParams) -> _Read | None:
    if texts is None:
        return None
    if len(texts) != count:
        raise ValueError(f"{len(texts)} texts for {count} vectors; give one text per vector")
    full = max(params.full_body_chars, 1)
    return _Read(
        texts,
        [f"{t.title}. {t.body[: params.lexical_chars]}" for t in texts],
        np.array([min(len(t.body.strip()) / full, 1.0) for t in texts], dtype=np.float64),
        np.array(
            [min((len(t.title.strip()) + len(t.body.strip())) / full, 1.0) for t in texts],
            dtype=np.float64,
        ),
    )


def _lexical(read: _Read | None, count: int, params: ClusterParams) -> _Lexical:
    weight = np.zeros(count, dtype=np.float64)
    empty = sparse.csr_matrix((count, 1), dtype=np.float64)
    share = np.ones(count, dtype=np.float64) if read is None else read.text_share
    if read is None or params.lexical_weight == 0:
        return _Lexical(empty, weight, share)
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        # IDF from the window itself: what is common this week (the topic) weighs little.
        matrix = TfidfVectorizer(
            sublinear_tf=True, stop_words="english", dtype=np.float64
        ).fit_transform(read.documents)
    except ValueError:  # no word survives stop-word removal in the whole window
        return _Lexical(empty, weight, share)
    return _Lexical(sparse.csr_matrix(matrix), params.lexical_weight * read.share, share)


Rows = slice | npt.NDArray[np.int64]


def _similarity(
    unit: npt.NDArray[np.float64],
    lexical: _Lexical,
    rows: Rows,
    cols: Rows,
    params: ClusterParams,
) -> npt.NDArray[np.float64]:
    """Blended similarity of ``rows`` against ``cols`` (dense), on the scale of the cut at
    ``link_distance``.

    A pair's words count by its shorter body (``lexical.weight``). Its cut moves with its
    shorter text (title and body, ``lexical.share``): two full articles are cut at
    ``link_distance``, two bare headlines ``headline_link_slack`` farther, linearly between.
    The embedding of a headline alone is noisier than of a headline and its lead, so the
    headlines of one story sit farther apart. The distance is rescaled (``link_distance /
    cut``) so that one linkage cut serves every pair.
    """
    similarity = unit[rows] @ unit[cols].T
    if lexical.weight[rows].any():  # else headlines only: no word share to mix
        words = (lexical.tfidf[rows] @ lexical.tfidf[cols].T).toarray()
        mix = np.minimum(lexical.weight[rows][:, None], lexical.weight[cols][None, :])
        similarity = (1 - mix) * similarity + mix * words
    # Only where some text is short: full articles are cut at link_distance as they are.
    if params.headline_link_slack and min(lexical.share[rows].min(), lexical.share[cols].min()) < 1:
        cut = 1.0 - np.minimum(lexical.share[rows][:, None], lexical.share[cols][None, :])
        cut *= params.headline_link_slack
        cut += params.link_distance
        # 1 - (1 - similarity) * link_distance / cut, in place: blocks are large.
        np.subtract(1.0, similarity, out=similarity)
        similarity *= params.link_distance
        similarity /= cut
        np.subtract(1.0, similarity, out=similarity)
    return np.asarray(similarity)


def _average_linkage(
    unit: npt.NDArray[np.float64], lexical: _Lexical, params: ClusterParams
) -> Labels:
    """Average linkage cut at ``link_distance`` without an n x n matrix.

    Two groups merge only if their mean similarity reaches the cut, so at least one pair
    across them does: every final cluster lies inside one connected component of the graph
    of pairs at least that similar. The graph is built in row blocks; the dense linkage then
    runs per component, so cost follows the largest component, not the window. That is
    exact while each article keeps all its close pairs and each component fits in
    ``max_component`` articles. Real news is denser than that: in a window of many topics
    one component holds nearly every article (99 % of the dev corpora at the default cut),
    and a dense linkage on 50,000 articles needs tens of GB. So each article keeps only its
    ``max_neighbours`` most similar pairs, and a component larger than ``max_component``
    is cut by raising the similarity its pairs need until every piece fits (see
    ``_pieces``); the linkage then runs per piece, an approximation only where a window is
    that dense.
    """
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]

    count = unit.shape[0]
    graph = _neighbour_graph(unit, lexical, params)
    labels = np.full(count, NOISE, dtype=np.int64)
    next_label = 0
    for members in _pieces(graph, np.arange(count), params.max_component):
        if members.shape[0] < 2:
            continue
        distance = 1.0 - _similarity(unit, lexical, members, members, params)
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


def _neighbour_graph(
    unit: npt.NDArray[np.float64], lexical: _Lexical, params: ClusterParams
) -> sparse.csr_matrix:
    """Symmetric graph of (rescaled) blended similarities within the cut, each row's
    ``max_neighbours`` largest; stored as similarity + 2, so every kept pair has a positive
    weight."""
    count = unit.shape[0]
    least, keep = 1.0 - params.link_distance, params.max_neighbours
    sources: list[npt.NDArray[np.int64]] = []
    targets: list[npt.NDArray[np.int64]] = []
    weights: list[npt.NDArray[np.float32]] = []
    block = max(16, _BLOCK_CELLS // max(count, 1))
    for start in range(0, count, block):
        stop = min(start + block, count)
        similarity = _similarity(unit, lexical, slice(start, stop), slice(None), params)
        similarity[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        if keep < count - 1:
            # Below each row's keep-th largest value, pairs are dropped; ties are kept.
            kth = -np.partition(-similarity, keep - 1, axis=1)[:, keep - 1 : keep]
            similarity[similarity < kth] = -np.inf
        row, col = np.nonzero(similarity >= least)
        sources.append(row.astype(np.int64) + start)
        targets.append(col.astype(np.int64))
        weights.append((similarity[row, col] + 2.0).astype(np.float32))
    source, target = np.concatenate(sources), np.concatenate(targets)
    graph = sparse.csr_matrix(
        (np.concatenate(weights), (source, target)), shape=(count, count), dtype=np.float32
    )
    return sparse.csr_matrix(graph.maximum(graph.T))


def _pieces(
    graph: sparse.csr_matrix, members: npt.NDArray[np.int64], largest: int
) -> list[npt.NDArray[np.int64]]:
    """Connected components of ``graph`` over ``members``, in order of their first member;
    one larger than ``largest`` is split by dropping its weakest pairs, step by step (its
    pairs' similarity quantiles), until every piece fits."""
    from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]

    sub = graph[members][:, members]
    _, component = connected_components(sub, directed=False)
    out: list[npt.NDArray[np.int64]] = []
    for group in _groups(component):
        if group.shape[0] <= largest:
            out.append(members[group])
            continue
        inner = sparse.csr_matrix(sub[group][:, group])
        # Drop the weakest tenth of its pairs (at least those of the weakest value).
        floor = float(np.quantile(inner.data, 0.1))
        inner.data[inner.data <= floor] = 0
        inner.eliminate_zeros()
        out.extend(
            members[group][piece] for piece in _pieces(inner, np.arange(group.shape[0]), largest)
        )
    return sorted(out, key=lambda piece: int(piece[0]))


def _merge_headline_clusters(
    unit: npt.NDArray[np.float64],
    labels: Labels,
    read: _Read | None,
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
    if read is None or len(found) < 2:
        return labels
    from scipy.cluster.hierarchy import DisjointSet
    from sklearn.feature_extraction.text import TfidfVectorizer

    headline = [
        label for label in found if read.text_share[labels == label].mean() < _HEADLINE_SHARE
    ]
    if len(headline) < 2:
        return labels
    documents = [f"{t.title}. {t.body[: params.full_body_chars]}" for t in read.texts]
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


def _split_events(labels: Labels, read: _Read | None, params: ClusterParams) -> Labels:
    """Cut clusters that hold two events of one kind, by the names each half uses.

    Two earthquakes, or two pirate attacks, read alike to the embedding and share the
    topic's words, which the window-wide IDF weighs heavily when the window holds many
    topics. Inside the cluster the topic's words are common and the names (places, people,
    ships, numbers) are what differ: the names of each article are weighted by TF-IDF fit on
    the cluster alone, the cluster is bisected by average linkage on them, and the cut is
    kept when the names shared across the halves are fewer than ``event_split_ratio`` of
    those shared within them. One event's coverage repeats its names, so it stays whole.
    Only clusters of full articles, large enough that each half is a cluster, are tried;
    halves are tried again.
    """
    if read is None or params.event_split_ratio <= 0:
        return labels
    smallest = max(params.min_cluster_size, 2)
    out = labels.copy()
    next_label = int(labels.max()) + 1
    pending = [np.flatnonzero(labels == label) for label in sorted(set(labels.tolist()) - {NOISE})]
    while pending:
        members = pending.pop()
        if members.shape[0] < 2 * smallest or read.text_share[members].mean() < _HEADLINE_SHARE:
            continue
        documents = [read.documents[int(i)] for i in members]
        halves = _bisect_by_names(documents, params.event_split_ratio, smallest)
        if halves is None:
            continue
        out[members[halves]] = next_label
        next_label += 1
        pending += [members[~halves], members[halves]]
    return out


def _require_shared_names(labels: Labels, read: _Read | None, params: ClusterParams) -> Labels:
    """Keep together only the members of a full-article cluster that name the same things.

    Reports of one event name its place, its people, its numbers; reports of look-alike
    events (three children shot by accident in three towns) share the topic's words and
    little else. Two members are linked when the TF-IDF cosine of their names (capitalised
    words and numbers, IDF from the window, so a name in every article weighs little) is at
    least ``name_link_similarity``; each connected group of linked members becomes a cluster
    (the first keeps the label), and a member linked to none becomes noise, free to be
    attached to a story later. Clusters of headlines are left alone: a headline names too
    little to be judged this way.
    """
    if read is None or params.name_link_similarity <= 0:
        return labels
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        names = TfidfVectorizer(analyzer=_names, sublinear_tf=True, dtype=np.float64)
        matrix = sparse.csr_matrix(names.fit_transform(read.documents))
    except ValueError:  # no name in the whole window
        return labels
    out = labels.copy()
    next_label = int(labels.max()) + 1
    for label in sorted(set(labels.tolist()) - {NOISE}):
        members = np.flatnonzero(labels == label)
        if read.text_share[members].mean() < _HEADLINE_SHARE:
            continue
        linked = (matrix[members] @ matrix[members].T).toarray() >= params.name_link_similarity
        np.fill_diagonal(linked, False)
        _, part = connected_components(sparse.csr_matrix(linked), directed=False)
        for index, group in enumerate(_groups(part)):
            if group.shape[0] < max(params.min_cluster_size, 2):
                out[members[group]] = NOISE
            elif index > 0:
                out[members[group]] = next_label
                next_label += 1
    return out


def _bisect_by_names(
    documents: list[str], ratio: float, smallest: int
) -> npt.NDArray[np.bool_] | None:
    """The second half of the best two-way cut by names, or None if the cluster is one event."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        # min_df=2: a name only one article uses cannot tie a half together.
        names = TfidfVectorizer(
            analyzer=_names, sublinear_tf=True, min_df=2, dtype=np.float64
        ).fit_transform(documents)
    except ValueError:  # no name used twice
        return None
    similarity = (names @ names.T).toarray()
    distance = np.clip(1.0 - similarity, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(distance[np.triu_indices(len(documents), k=1)], method="average")
    second = fcluster(tree, t=2, criterion="maxclust") == 2
    first = ~second
    if min(int(first.sum()), int(second.sum())) < smallest:
        return None
    pairs_within = first.sum() * (first.sum() - 1) + second.sum() * (second.sum() - 1)
    within = (
        similarity[np.ix_(first, first)].sum()
        + similarity[np.ix_(second, second)].sum()
        - len(documents)
    ) / pairs_within
    cross = similarity[np.ix_(first, second)].mean()
    return second if within > 0 and cross < ratio * within else None


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

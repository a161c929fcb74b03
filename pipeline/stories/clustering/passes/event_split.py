"""Event split: a cluster holding two events of one kind is cut in two by the names each
half uses.

Two earthquakes, or two pirate attacks, read alike to the embedding and share the topic's
words, which the window-wide IDF weighs heavily when the window holds many topics. Inside
the cluster the topic's words are common and the names (places, people, ships, numbers) are
what differ.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from pipeline.stories.clustering.labels import Labels, members_of
from pipeline.stories.clustering.window import Window, names


def split_events(window: Window, labels: Labels) -> Labels:
    """Bisect clusters by their names while the halves name different things.

    The names of each article are weighted by TF-IDF fit on the cluster alone, the cluster
    is bisected by average linkage on them, and the cut is kept when the names shared across
    the halves are fewer than ``event_split_ratio`` of those shared within them. One event's
    coverage repeats its names, so it stays whole. Only clusters of full articles, large
    enough that each half is a cluster, are tried; halves are tried again.
    """
    params = window.params
    ratio = params.event_split_ratio
    if not window.has_texts or ratio is None:
        return labels
    smallest = max(params.min_cluster_size, 2)
    out = labels.copy()
    next_label = int(labels.max()) + 1
    pending = list(members_of(labels).values())
    while pending:
        members = pending.pop()
        if members.shape[0] < 2 * smallest or window.is_headlines(members):
            continue
        documents = [window.documents[int(i)] for i in members]
        halves = _bisect_by_names(documents, ratio, smallest)
        if halves is None:
            continue
        out[members[halves]] = next_label
        next_label += 1
        pending += [members[~halves], members[halves]]
    return out


def _bisect_by_names(
    documents: list[str], ratio: float, smallest: int
) -> npt.NDArray[np.bool_] | None:
    """The second half of the best two-way cut by names, or None if the cluster is one event."""
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        # min_df=2: a name only one article uses cannot tie a half together.
        matrix = TfidfVectorizer(
            analyzer=names, sublinear_tf=True, min_df=2, dtype=np.float64
        ).fit_transform(documents)
    except ValueError:  # no name used twice
        return None
    similarity = (matrix @ matrix.T).toarray()
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

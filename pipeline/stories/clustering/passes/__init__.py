"""The passes that refine a clusterer's labels, in the order they run (``PASSES``).

1. ``no_content``: articles that say nothing (no body, a title that is no headline) are noise.
2. ``spread_cap``: members too far from the rest of their cluster become noise.
3. ``shared_names``: a full-article cluster keeps only members that name the same things.
4. ``event_split``: a cluster of two look-alike events is cut by the names of each half.
5. ``headline_merge``: clusters of headlines telling one story are joined.
6. ``spread_cap`` again, on what the name passes and the merge made.

A pass is a function from the window and the labels to new labels; one switched off by its
setting returns the labels unchanged. The passes that read names do nothing without texts.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.stories.clustering.labels import Labels
from pipeline.stories.clustering.passes.event_split import split_events
from pipeline.stories.clustering.passes.headline_merge import merge_headline_clusters
from pipeline.stories.clustering.passes.no_content import drop_contentless
from pipeline.stories.clustering.passes.shared_names import require_shared_names
from pipeline.stories.clustering.passes.spread_cap import cap_spread
from pipeline.stories.clustering.window import Window

Pass = Callable[[Window, Labels], Labels]

PASSES: tuple[Pass, ...] = (
    drop_contentless,
    cap_spread,
    require_shared_names,
    split_events,
    merge_headline_clusters,
    cap_spread,
)

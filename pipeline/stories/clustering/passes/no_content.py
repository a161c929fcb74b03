"""Articles that say nothing join no story.

An article with no body whose title is no headline ("en", a time stamp: ``text.says_nothing``)
is embedded as its placeholder, and every article with the same placeholder lands on the
same vector: eight unrelated scraped pages titled "en" made one story on gva-2013-2015. Such
an article stays an article (listed, searchable), but no cluster holds it.
"""

from __future__ import annotations

import numpy as np

from pipeline.stories.clustering.labels import NOISE, Labels
from pipeline.stories.clustering.window import Window
from pipeline.text import says_nothing


def drop_contentless(window: Window, labels: Labels) -> Labels:
    """``labels`` with every article that says nothing made noise; unchanged without texts."""
    if window.texts is None:
        return labels
    empty = np.array([says_nothing(text.title, text.body) for text in window.texts], dtype=bool)
    if not empty.any():
        return labels
    out = labels.copy()
    out[empty] = NOISE
    return out

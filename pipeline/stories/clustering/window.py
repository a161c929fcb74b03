"""One window of articles as every step of the clustering reads it, computed once.

The vectors at unit length; and, when the texts are known, what is read of each article
(``pipeline.text.article_text``: its headline and the first ``lexical_chars`` of its body),
how much of it there is (``body_share``, ``text_share``), the TF-IDF of its words and the
index of its names, fit on the window itself: what is common this week (the topic) weighs
little.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]

from models.types import FloatArray
from pipeline.settings import ClusteringSettings
from pipeline.stories.clustering.vectors import normalise
from pipeline.text import article_text

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import TfidfVectorizer

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
class Words:
    """The window's word similarity: TF-IDF rows and how much each article's words count."""

    tfidf: sparse.csr_matrix
    """Unit-length TF-IDF rows (all zero for a text with no known words)."""
    weight: npt.NDArray[np.float64]
    """Per article, how much its words may count: lexical_weight scaled by ``body_share``."""


_EVERY_ROW = slice(None)


class Window:
    """The window's vectors and texts, and what is derived from them, each computed once."""

    def __init__(
        self, vectors: FloatArray, texts: Sequence[ArticleText] | None, params: ClusteringSettings
    ) -> None:
        count = vectors.shape[0]
        if texts is not None and len(texts) != count:
            raise ValueError(f"{len(texts)} texts for {count} vectors; give one text per vector")
        self.params = params
        self.count = count
        self.unit32: npt.NDArray[np.float32] = normalise(vectors)
        """The vectors at unit length, as float32 (half the memory of float64: 300 MB at
        200,000 articles); ``unit`` gives rows of them as float64 for the arithmetic."""
        self.texts = texts
        full = max(params.lexical_full_body_chars, 1)
        read = texts or ()
        self.documents = [article_text(t.title, t.body, params.lexical_chars) for t in read]
        """What is read of each article: its headline and the lead of its body."""
        self.body_share = np.array(
            [min(len(t.body.strip()) / full, 1.0) for t in read], dtype=np.float64
        )
        """Body length over ``lexical_full_body_chars``, at most 1: how much the words may
        be trusted."""
        self.text_share = (
            np.ones(count, dtype=np.float64)
            if texts is None
            else np.array(
                [min((len(t.title.strip()) + len(t.body.strip())) / full, 1.0) for t in read],
                dtype=np.float64,
            )
        )
        """Title and body length over ``lexical_full_body_chars``, at most 1 (1 where the texts are
        unknown): whether there are names to read, and where a pair is cut. A lead sentence
        given as the title counts (some sources cut the body short)."""

    def unit(self, rows: slice | npt.NDArray[np.int64] = _EVERY_ROW) -> npt.NDArray[np.float64]:
        """Rows of the unit vectors as float64: exactly the float32 values, so every sum and
        product is the one a float64 copy of the window would give."""
        return self.unit32[rows].astype(np.float64)

    @property
    def has_texts(self) -> bool:
        return self.texts is not None

    def is_headlines(self, members: npt.NDArray[np.int64]) -> bool:
        """Whether a cluster is one of headlines: its mean ``text_share`` is below
        ``headline_share``, too few names to be judged by the name passes."""
        return bool(self.text_share[members].mean() < self.params.headline_share)

    @cached_property
    def words(self) -> Words:
        count = self.count
        weight = np.zeros(count, dtype=np.float64)
        empty = sparse.csr_matrix((count, 1), dtype=np.float64)
        if not self.has_texts or self.params.lexical_weight == 0:
            return Words(empty, weight)
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            matrix = TfidfVectorizer(
                sublinear_tf=True, stop_words="english", dtype=np.float64
            ).fit_transform(self.documents)
        except ValueError:  # no word survives stop-word removal in the whole window
            return Words(empty, weight)
        return Words(sparse.csr_matrix(matrix), self.params.lexical_weight * self.body_share)

    @cached_property
    def name_index(self) -> TfidfVectorizer | None:
        """The window's names index: TF-IDF over each article's names (capitalised words and
        numbers), IDF from the window, so a name in every article weighs little; None when
        the window names nothing."""
        if not self.has_texts:
            return None
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            return TfidfVectorizer(analyzer=names, sublinear_tf=True, dtype=np.float64).fit(
                self.documents
            )
        except ValueError:  # no name in the whole window
            return None

    @cached_property
    def names(self) -> sparse.csr_matrix | None:
        """Unit-length rows of each article's names in ``name_index``; None when the window
        names nothing."""
        index = self.name_index
        return None if index is None else sparse.csr_matrix(index.transform(self.documents))


def names(document: str) -> list[str]:
    """The capitalised words and numbers of a text, lower-cased."""
    words = (match.group(0).lower() for match in _NAME.finditer(document))
    return [word for word in words if word not in _NOT_NAMES]

"""Story keywords by class-based TF-IDF. Pure: texts in, words out.

Each story's articles are joined into one document; a term scores high when it is frequent
in that story and rare across the stories of the window (BERTopic's c-TF-IDF), so a story
about a Chilean earthquake gets "iquique", "quake", "magnitude" rather than "said".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def story_keywords(
    texts_by_story: Mapping[int, Sequence[str]], top_n: int = 8
) -> dict[int, list[str]]:
    """The ``top_n`` keywords of each story, best first; ties break alphabetically."""
    from sklearn.feature_extraction.text import CountVectorizer

    ids = sorted(texts_by_story)
    documents = [" ".join(texts_by_story[story]) for story in ids]
    if not any(doc.strip() for doc in documents):
        return {story: [] for story in ids}
    vectorizer = CountVectorizer(
        stop_words="english",
        lowercase=True,
        token_pattern=r"(?u)\b[^\W\d_][\w'-]{2,}\b",
        ngram_range=(1, 1),
    )
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # only stop words
        return {story: [] for story in ids}
    terms = vectorizer.get_feature_names_out()
    term_frequency = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average_words = counts.sum() / len(ids)
    idf = np.log1p(average_words / np.maximum(counts.sum(axis=0), 1.0))
    weights = term_frequency * idf
    result: dict[int, list[str]] = {}
    for row, story in enumerate(ids):
        order = sorted(
            (index for index in np.flatnonzero(weights[row] > 0)),
            key=lambda index: (-weights[row, index], terms[index]),
        )
        result[story] = [str(terms[index]) for index in order[:top_n]]
    return result

"""Story keywords by class-based TF-IDF. Pure: texts in, words out.

Each story's articles are joined into one document; a term scores high when it is frequent
in that story and rare across the stories of the window (BERTopic's c-TF-IDF), so a story
about a Chilean earthquake gets "iquique", "quake", "magnitude" rather than "said".

Terms are words and two-word phrases of adjacent words with no stop word between them, so a
name in two words stays one keyword ("sharm el-sheikh", "islamic state"): a phrase chosen
takes the place of its words, which are not listed again on their own.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

import numpy as np

from pipeline.entities.names import fold

_TOKEN = re.compile(r"(?u)\b[\w'-]+\b")
_WORD = re.compile(r"(?u)[^\W\d_][\w'-]{2,}")
"""A keyword's word: a letter, then two or more letters, digits, apostrophes or hyphens;
any other token (a number, a two-letter word) ends a phrase, as a stop word does."""
_BREAK = re.compile(r"[.,;:!?()\[\]\"“”|\n]")
"""Punctuation that ends a phrase, and the line break between two texts: words on either
side of it are not adjacent."""
PHRASE_MIN_COUNT = 2
"""A phrase counts in a story only if the story uses it this often: one headline's chance
pair of words ("el-sheikh airport") is no name of the story."""
PHRASE_SHARE = 0.5
"""... and only if it holds at least this share of each of its words' uses in the story: the
words of a name come together ("sharm el-sheikh"); words that meet now and then ("quake
iquique", "iquique quake") stay words."""


def story_keywords(
    texts_by_story: Mapping[int, Sequence[str]],
    top_n: int = 8,
    without: Mapping[int, Collection[str]] | None = None,
) -> dict[int, list[str]]:
    """The ``top_n`` keywords of each story, best first; ties break alphabetically.

    ``without`` gives, per story, words (folded: ``pipeline.entities.names.fold``) no keyword
    of it may hold: its people's, places' and organisations' names, which are shown apart,
    the outlets' names, and the window's boilerplate (``boilerplate_words``).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    ids = sorted(texts_by_story)
    documents = ["\n".join(texts_by_story[story]) for story in ids]
    if not any(doc.strip() for doc in documents):
        return {story: [] for story in ids}
    vectorizer = CountVectorizer(analyzer=_terms())
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # only stop words
        return {story: [] for story in ids}
    terms = vectorizer.get_feature_names_out()
    term_frequency = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    average_words = counts.sum() / len(ids)
    idf = np.log1p(average_words / np.maximum(counts.sum(axis=0), 1.0))
    weights = term_frequency * idf
    column = vectorizer.vocabulary_
    for index, term in enumerate(terms):
        if " " in term:
            first, second = (column[word] for word in term.split(" "))
            uses = np.maximum(counts[:, first], counts[:, second])
            together = counts[:, index]
            weights[:, index] *= (together >= PHRASE_MIN_COUNT) & (together >= PHRASE_SHARE * uses)
    result: dict[int, list[str]] = {}
    folded = [set(fold(str(term)).split(" ")) for term in terms]
    for row, story in enumerate(ids):
        banned = set((without or {}).get(story, ()))
        order = sorted(
            (index for index in np.flatnonzero(weights[row] > 0) if not folded[index] & banned),
            key=lambda index: (-weights[row, index], terms[index]),
        )
        result[story] = _phrases_over_words([str(terms[index]) for index in order], top_n)
    return result


def _terms() -> Callable[[str], list[str]]:
    """The analyzer: a text's words and adjacent two-word phrases, lower-cased, stop words
    left out (a phrase holds none)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    def analyze(text: str) -> list[str]:
        out: list[str] = []
        for span in _BREAK.split(text.lower()):
            previous: str | None = None
            for match in _TOKEN.finditer(span):
                word = match.group(0)
                if word in ENGLISH_STOP_WORDS or not _WORD.fullmatch(word):
                    previous = None
                    continue
                out.append(word)
                if previous is not None:
                    out.append(f"{previous} {word}")
                previous = word
        return out

    return analyze


def _phrases_over_words(ranked: list[str], top_n: int) -> list[str]:
    """The first ``top_n`` of ``ranked`` terms, a phrase taking the place of its words: a
    word already in a chosen phrase is skipped, and a phrase chosen after one of its words
    replaces that word (and drops its other word)."""
    chosen: list[str] = []
    for term in ranked:
        if len(chosen) >= top_n:
            break
        parts = term.split(" ")
        if len(parts) == 1:
            if not any(term in phrase.split(" ") for phrase in chosen if " " in phrase):
                chosen.append(term)
            continue
        held = [index for index, kept in enumerate(chosen) if kept in parts]
        if held:
            chosen[held[0]] = term
            chosen = [kept for index, kept in enumerate(chosen) if index not in held[1:]]
        else:
            chosen.append(term)
    return chosen[:top_n]


BOILERPLATE_STORIES = 3
"""A word one outlet alone uses, in this many stories of the window or more, is that outlet's
furniture (its paywall's "check your email to activate", its station's "nbc12 wwbt"), not
news."""


def boilerplate_words(
    texts: Iterable[tuple[str, int, str]], min_stories: int = BOILERPLATE_STORIES
) -> frozenset[str]:
    """The folded words of a window's ``texts`` (outlet, story, text) that only one outlet
    uses, in at least ``min_stories`` of its stories: words a site puts around every
    article. A word two outlets use is never one."""
    outlets: dict[str, set[str]] = defaultdict(set)
    stories: dict[str, set[int]] = defaultdict(set)
    analyze = _terms()
    for outlet, story, text in texts:
        for term in analyze(text):
            if " " in term:
                continue
            for word in fold(term).split(" "):
                outlets[word].add(outlet)
                stories[word].add(story)
    return frozenset(
        word
        for word, used_by in outlets.items()
        if len(used_by) == 1 and len(stories[word]) >= min_stories
    )


def name_words(names: Iterable[str]) -> frozenset[str]:
    """The folded words of ``names`` (people, places, organisations, outlets), which no
    keyword holds: "François Hollande" gives "francois", "hollande"."""
    return frozenset(word for name in names for word in fold(name).split(" ") if word)

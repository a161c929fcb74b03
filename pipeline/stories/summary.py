"""A story's summary: two or three sentences taken from its own articles. Pure: records in,
sentences out.

Extractive, with no model to download: the sentences are the leads of the story's most
central articles (news puts the point first), split by spaCy's rule-based ``sentencizer``,
and chosen by maximal marginal relevance (Carbonell and Goldstein, 1998): each next sentence
is the one most central to the story yet least like those already chosen. Centrality is the
article's cosine to the story's centroid, less a little for each sentence further from the
lead; likeness is the mean of the two articles' cosine and the two sentences' overlap of
content words (four letters or more, in any language), so one fact told twice in other
words loses to a new one; a sentence that repeats a chosen one nearly word for word (a
reprint's copy) is never chosen at all. On the gva and ECB+ corpora' stories of two or more
articles (``bench/summary.py``'s near-duplicates), the mean left 14 and 0 pairs of
sentences telling one fact twice where the larger of the two (the articles' cosine alone,
in effect) left 77 and 14, with the same centrality and as many outlets.

What is no sentence of the news is left out before the choice (``lead_sentences``): too few
or too many words, no end mark or a question's, a cut-off teaser ("…"), a heading's capitals,
a byline, a link, the article's own headline, the web's stock phrases ("Click here", "All
rights reserved"); and, from the whole window, any sentence that other stories' articles
with other headlines also print (``Boilerplate``): a site's paywall notice or slogan is the
same under every headline, while a story's own wire copy stays within the story.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from models.types import FloatArray
from pipeline.stories.clustering.vectors import centroid, normalise

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = [
    "Boilerplate",
    "SummaryArticle",
    "SummarySentence",
    "lead_sentences",
    "summarise",
]

TITLES = ("Sgt.", "Lt.", "Capt.", "Det.", "Cpl.", "Ofc.", "Col.", "Supt.", "Insp.", "Dep.", "Ft.")
"""Abbreviated ranks before a name that spaCy's English exceptions lack, so "police Sgt.
Tony Chaplin said" stays one sentence (measured: 3 of 80 gva summary sentences were cut
there)."""
SENTENCES = 3
"""Sentences in a summary, at most (fewer when the articles have fewer)."""
LEAD_CHARS = 1200
"""Characters of each article's text read: its lead, where news puts the point."""
LEAD_SENTENCES = 3
"""Sentences of each article's lead that may be chosen, after the filters."""
READ_ARTICLES = 8
"""The story's most central articles (of distinct texts) whose leads are read."""
MIN_WORDS = 6
MAX_WORDS = 60
MIN_LOWER_SHARE = 0.3
"""At least this share of a sentence's words start in lower case: fewer, and it is a
heading, a list of names or a menu ("Home News Sports Weather Contact Us")."""
POSITION_COST = 0.05
"""Centrality lost for each sentence further from the article's lead."""
RELEVANCE_WEIGHT = 0.6
"""Maximal marginal relevance's lambda: centrality's weight against likeness to the
sentences already chosen."""
SAME_SENTENCE = 0.6
"""Word overlap (of the shorter sentence's words) from which two sentences say the same."""
SHINGLE = 5
"""Words per shingle of the boilerplate index."""
SHARED_SHINGLES = 0.8
"""Share of a sentence's shingles printed elsewhere that makes it boilerplate."""

_WORD = re.compile(r"[^\W\d_]+")
_TOKEN = re.compile(r"\w+")
_QUOTES = "'\"\u2019\u201d\u00bb)"
"""What may close a sentence after its end mark: quotes, a guillemet, a parenthesis."""
_DASHES = "-\u2013\u2014"
_LEADERS = f"{_DASHES}\u2022* "
"""What may stand before a paragraph's first word: a dash, a bullet."""
_DATELINE = re.compile(
    rf"^\s*[A-Z][A-Z]{{2,}}[A-Z .'\u2019-]{{0,30}}(?:,\s*[A-Z][\w .'\u2019-]{{1,30}})?\s*"
    rf"(?:\([^)]{{1,40}}\)\s*)?[{_DASHES}]+\s+"
)
"""A dateline before the lead's first words: "WASHINGTON (AP) - ", "BEIRUT, Lebanon - "."""
_LABEL = re.compile(r"^[A-Z]{3,}(?: [A-Z]{3,})?:\s+")
"""A label before the sentence: "UPDATE: ", "WATCH: ", "BREAKING NEWS: "."""
_END = re.compile(f"[.!\u3002\uff01][{_QUOTES}]*$")
_CUT = re.compile(f"(\\.\\.\\.|\u2026|\\[\\s*\\.*\\s*\\])[{_QUOTES}]*$")
"""A teaser cut off: "...", an ellipsis, "[...]"."""
_LINK = re.compile(r"https?://|www\.|\S@\S+\.\w", re.IGNORECASE)
_BYLINE = re.compile(
    r"^\s*(by|photo|photos|image|video|credit|source|posted|published|updated|copyright|"
    r"reporting by|editing by|written by)\b",
    re.IGNORECASE,
)
_STOCK = re.compile(
    r"click here|sign up|subscribe|all rights reserved|copyright|©|newsletter|cookie|"
    r"javascript|log ?in\b|sign in\b|read more|continue reading|appeared first on|"
    r"terms of (use|service)|privacy policy|your browser|advertisement|follow us|"
    r"share this|email address|verify your|activate your|may not be (published|reproduced)",
    re.IGNORECASE,
)
"""The web's stock phrases, on any site: what no news sentence needs."""


@dataclass(frozen=True)
class SummaryArticle:
    """One of a story's articles, as the summary reads it."""

    id: int
    outlet: str
    url: str | None
    title: str
    text: str
    """The text read, without its headline: the page's body, else the feed's summary."""
    vector: FloatArray
    published: datetime


@dataclass(frozen=True)
class SummarySentence:
    article_id: int
    sentence: str


@cache
def _splitter() -> Language:
    import spacy

    nlp = spacy.blank("en")
    tokenizer: Any = nlp.tokenizer  # spaCy's Tokenizer, a Cython class with no stubs
    for title in TITLES:
        tokenizer.add_special_case(title, [{"ORTH": title}])
    nlp.add_pipe("sentencizer")
    return nlp


def _squash(text: str) -> str:
    return " ".join(_TOKEN.findall(text.casefold()))


def _paragraphs(text: str) -> list[str]:
    """The lead's paragraphs; a paragraph cut at ``LEAD_CHARS`` loses its unfinished end."""
    lead = text[:LEAD_CHARS]
    return [line.strip() for line in lead.split("\n") if line.strip()]


def lead_sentences(texts: Sequence[tuple[str, str]]) -> list[list[str]]:
    """The news sentences of each (headline, text)'s lead, the first ``LEAD_SENTENCES``."""
    splitter = _splitter()
    result: list[list[str]] = []
    for title, text in texts:
        title_key = _squash(title)
        kept: list[str] = []
        # Paragraph by paragraph, and only until the lead has its sentences: the splitter's
        # tokenizer is most of a summary's cost.
        for paragraph in _paragraphs(text):
            for span in splitter(paragraph).sents:
                sentence = _clean(span.text)
                if _is_news(sentence, title_key):
                    kept.append(sentence)
                    if len(kept) == LEAD_SENTENCES:
                        break
            if len(kept) == LEAD_SENTENCES:
                break
        result.append(kept)
    return result


def _clean(sentence: str) -> str:
    """The sentence without a dateline or a leading dash or bullet, its spaces single."""
    bare = _DATELINE.sub("", sentence.strip().lstrip(_LEADERS).strip(), count=1)
    return " ".join(_LABEL.sub("", bare, count=1).split())


def _is_news(sentence: str, title_key: str) -> bool:
    """Whether ``sentence`` reads as a sentence of the news, not a page's furniture."""
    words = _WORD.findall(sentence)
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    if not _END.search(sentence) or _CUT.search(sentence):
        return False
    if words[0][0].islower() or not _balanced(sentence):
        return False  # a fragment: split inside a sentence or a quotation
    if sum(word[0].islower() for word in words) < MIN_LOWER_SHARE * len(words):
        return False
    if _LINK.search(sentence) or _BYLINE.match(sentence) or _STOCK.search(sentence):
        return False
    key = _squash(sentence)
    return not (title_key and (key == title_key or key in title_key))


def _balanced(sentence: str) -> bool:
    """Whether the sentence closes every quotation it opens (and opens every one it closes)."""
    return (
        sentence.count("\u201c") == sentence.count("\u201d")
        and sentence.count('"') % 2 == 0
        and sentence.count("\u00ab") == sentence.count("\u00bb")
    )


def _shingles(text: str) -> set[int]:
    words = _TOKEN.findall(text.casefold())
    if len(words) < SHINGLE:
        return {hash(tuple(words))} if words else set()
    return {hash(gram) for gram in zip(*(words[i:] for i in range(SHINGLE)), strict=False)}


class Boilerplate:
    """Sentences the window's articles print under different headlines in different stories.

    Built from every article of the window: its story (or none), its headline and its lead,
    as word shingles. A sentence is boilerplate when most of its shingles appear in two
    articles that differ in both story and headline: a site's notice repeats under every
    headline, while a reprint (same headline) or a story's own wire copy (same story) does
    not count.
    """

    def __init__(self, articles: Iterable[tuple[int | None, str, str]]) -> None:
        """``articles``: (story id or None for an article in no story, headline, text)."""
        # Each shingle's first article, and the first after it of another story or
        # headline: a later article that differs from either in both makes it shared.
        first: dict[int, tuple[int, int]] = {}
        second: dict[int, tuple[int, int]] = {}
        shared: set[int] = set()
        for index, (story, title, text) in enumerate(articles):
            owner = (story if story is not None else -1 - index, hash(_squash(title)))
            for shingle in _shingles(text[:LEAD_CHARS]):
                seen = first.setdefault(shingle, owner)
                if seen == owner:
                    continue
                other = second.setdefault(shingle, owner)
                if (seen[0] != owner[0] and seen[1] != owner[1]) or (
                    other[0] != owner[0] and other[1] != owner[1]
                ):
                    shared.add(shingle)
        self._shared = frozenset(shared)

    def __contains__(self, sentence: object) -> bool:
        if not isinstance(sentence, str):
            return False
        shingles = _shingles(sentence)
        shared = sum(shingle in self._shared for shingle in shingles)
        return bool(shingles) and shared >= SHARED_SHINGLES * len(shingles)


@dataclass(frozen=True)
class _Candidate:
    article: int
    """Index into the story's articles."""
    position: int
    sentence: str
    words: frozenset[str]
    content: frozenset[str]
    """Its words of four letters or more: what the sentence is about, in any language."""
    relevance: float


def summarise(
    articles: Sequence[SummaryArticle],
    boilerplate: Boilerplate | None = None,
    sentences: int = SENTENCES,
) -> list[SummarySentence]:
    """Up to ``sentences`` sentences of the story's articles, most central first, none
    boilerplate and none saying what an earlier one says."""
    if not articles or sentences <= 0:
        return []
    unit = normalise(np.stack([article.vector for article in articles]))
    closeness = unit @ centroid(unit)
    order = sorted(range(len(articles)), key=lambda i: (-closeness[i], articles[i].id))
    read: list[int] = []
    texts_seen: set[str] = set()
    for index in order:
        key = _squash(articles[index].text[:LEAD_CHARS])
        if key and key not in texts_seen:
            texts_seen.add(key)
            read.append(index)
        if len(read) == READ_ARTICLES:
            break
    leads = lead_sentences([(articles[i].title, articles[i].text) for i in read])
    candidates = [
        _Candidate(
            article=index,
            position=position,
            sentence=sentence,
            words=frozenset(_WORD.findall(sentence.casefold())),
            content=frozenset(w for w in _WORD.findall(sentence.casefold()) if len(w) >= 4),
            relevance=float(closeness[index]) - POSITION_COST * position,
        )
        for index, lead in zip(read, leads, strict=True)
        for position, sentence in enumerate(lead)
        if boilerplate is None or sentence not in boilerplate
    ]
    chosen: list[_Candidate] = []
    while candidates and len(chosen) < sentences:
        best = max(
            candidates,
            key=lambda c: (_marginal(c, chosen, unit), -c.position, -articles[c.article].id),
        )
        chosen.append(best)
        candidates = [
            c for c in candidates if c is not best and _overlap(c.words, best.words) < SAME_SENTENCE
        ]
    return [SummarySentence(articles[c.article].id, c.sentence) for c in chosen]


def _overlap(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / min(len(first), len(second))


def _marginal(candidate: _Candidate, chosen: list[_Candidate], unit: FloatArray) -> float:
    if not chosen:
        return candidate.relevance
    likeness = max(
        (float(unit[candidate.article] @ unit[c.article]) + _overlap(candidate.content, c.content))
        / 2
        for c in chosen
    )
    return RELEVANCE_WEIGHT * candidate.relevance - (1 - RELEVANCE_WEIGHT) * likeness

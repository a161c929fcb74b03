"""Syndicated copies: one wire story republished by several outlets with small edits. Pure.

An article's text (title, newline, summary) is cut into word 5-shingles and summarised by a
MinHash (datasketch), stored as bytes next to the article. A MinHashLSH index over recent
signatures proposes earlier articles that may be the same text; each proposal is confirmed by
the Jaccard similarity the two signatures estimate.

A shared text alone does not make a copy: the headlines must agree too
(``headlines_agree``). A site's paywall or cookie notice, served as the feed's summary of
every article, makes two articles about different incidents the same text but for their
headlines; a wire copy keeps its headline, give or take its case, punctuation or an
outlet's name after it. A copy whose headline was rewritten from scratch is missed: the
rarer mistake, and the milder one (a copy left an original still joins its story by its
text), than hiding a different incident as a reprint of another.

Signatures from different ``num_perm``, ``seed``, shingle size or normalisation cannot be
compared: changing any of them means recomputing the stored signatures.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

SHINGLE_WORDS: Final = 5
"""Words per shingle. Independent rewrites of one event share names and numbers but few runs
of five words (Jaccard under 0.1 in our tests); shorter shingles let them drift towards
copies, longer ones let a single edit break more of a copy's shingles."""

FUZZY_MIN_WORDS: Final = 20
"""Texts with fewer words match only a text identical to them after normalisation. A headline
alone is too short for shingles to tell a retouched copy from a different headline:
"..., day 2" and "..., day 3" share all shingles but one."""

DEFAULT_THRESHOLD: Final = 0.7
"""Estimated Jaccard similarity from which a text is a copy. A copy with a rewritten headline
or a credit line under a two-sentence summary scores 0.75-0.85, and the estimate from 128
permutations wanders by about ±0.07, so 0.8 would miss half of them."""

HEADLINE_AGREEMENT: Final = 0.8
"""Share of the shorter headline's words (stop words aside) the other must hold for two
headlines to agree: a copy's case, punctuation, an outlet's name after it ("... - KTVU") or
a cut keep all the shorter one's words, and one word changed in five keeps 0.8; two
shootings in one town ("Man shot in Eastside", "Woman shot in Eastside apartment") share
half of theirs."""
_STOP_WORDS: Final = frozenset(
    {"a", "an", "the", "of", "in", "on", "at", "by", "for", "and", "or", "to", "from"}
    | {"with", "is", "are", "was", "were", "be", "as", "after", "over"}
)

NUM_PERM: Final = 128
SEED: Final = 1

# datasketch's default permutation scheme since 2.0: 32-bit values, so 4 bytes each.
_SCHEME: Final = "affine32"
_VALUE: Final = np.dtype("<u4")
# The value of every permutation of an empty set: such a signature matches nothing.
_EMPTY: Final = np.iinfo(np.uint32).max

_TAG = re.compile(r"<[^>]*>")
# Scripts written without spaces between words: each character is a word of its own.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class _Separators(dict[int, str]):
    """A ``str.translate`` table turning punctuation and symbols into spaces, filled lazily.

    Unicode categories rather than ``\\W``: ``\\W`` also matches the vowel signs of Hindi and
    the vowel marks of Arabic, and would cut their words apart.
    """

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        value = " " if unicodedata.category(char)[0] in "PS" else char
        self[codepoint] = value
        return value


_SEPARATORS: Final = _Separators()


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[str]:
    """The runs of ``k`` consecutive words of the normalised ``text``.

    Normalised: HTML tags dropped and entities decoded, Unicode NFKC, case-folded, punctuation
    and symbols removed, whitespace collapsed. A text of fewer than ``k`` words is one shingle,
    itself, so that it still matches an identical text; an empty text has none.
    """
    return _shingles(_words(text), k)


def signature(text: str, num_perm: int = NUM_PERM, seed: int = SEED) -> bytes:
    """The MinHash of ``text``'s shingles as ``num_perm`` little-endian uint32 (512 bytes).

    A text of fewer than ``FUZZY_MIN_WORDS`` words is hashed as one shingle, itself, so it
    matches only an identical text. The same text gives the same bytes in every process:
    shingles are hashed with SHA-1 and the permutations come from a generator seeded with
    ``seed``.
    """
    from datasketch import MinHash

    words = _words(text)
    # k = the whole text's length makes the whole text the one shingle.
    grams = _shingles(words, SHINGLE_WORDS if len(words) >= FUZZY_MIN_WORDS else len(words))
    sketch = MinHash(
        num_perm=num_perm, seed=seed, permutations=_permutations(num_perm, seed), scheme=_SCHEME
    )
    sketch.update_batch([gram.encode() for gram in grams])
    values: NDArray[np.uint32] = sketch.hashvalues
    return values.astype(_VALUE).tobytes()


def headline_words(title: str) -> frozenset[str]:
    """The words of a headline, normalised as the shingles' and without stop words."""
    return frozenset(_words(title)) - _STOP_WORDS


def headlines_agree(first: frozenset[str], second: frozenset[str]) -> bool:
    """Whether two headlines' words (``headline_words``) can be one wire story's: the
    shorter's words are at least ``HEADLINE_AGREEMENT`` in the other. A missing headline
    (no words) leaves the text alone to decide."""
    if not first or not second:
        return True
    shared = len(first & second)
    return shared >= HEADLINE_AGREEMENT * min(len(first), len(second))


def similarity(first: bytes, second: bytes) -> float:
    """Jaccard similarity of two texts' shingles, as estimated from their signatures."""
    return _jaccard(_values(first), _values(second))


class DuplicateIndex:
    """Signatures of earlier articles, to find the first copy of a republished text."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, num_perm: int = NUM_PERM) -> None:
        from datasketch import MinHashLSH

        if not 0 < threshold <= 1:
            raise ValueError(f"duplicate threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.num_perm = num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._by_key: dict[int, NDArray[np.uint32]] = {}
        self._headlines: dict[int, frozenset[str]] = {}
        self._journal: list[_Entry] | None = None

    def __len__(self) -> int:
        return len(self._by_key)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Keys added inside the block are forgotten again if it raises.

        For the span of a database transaction: the articles it inserted are rolled back
        with it, so the index must not keep their ids. A later copy would point at an
        article never stored (PostgreSQL refuses the foreign key), or on SQLite, which gives
        a rolled-back id to the next row, at an unrelated article or at itself."""
        if self._journal is not None:
            raise RuntimeError("DuplicateIndex transactions do not nest")
        self._journal = []
        try:
            yield
        except BaseException:
            for entry in reversed(self._journal):
                self._restore(entry)
            raise
        finally:
            self._journal = None

    def add(self, key: int, sig: bytes, title: str = "") -> None:
        """Index article ``key``, its text's signature and its headline; adding a key again
        replaces them.

        The signature of an empty text is not indexed: it would match every other empty text.
        """
        values = self._checked(sig)
        if self._journal is not None:
            self._journal.append(_Entry(key, self._by_key.get(key), self._headlines.get(key)))
        self._put(key, None if _is_empty(values) else values, headline_words(title))

    def _put(
        self, key: int, values: NDArray[np.uint32] | None, headline: frozenset[str] | None
    ) -> None:
        if key in self._by_key:
            self._lsh.remove(key)
            del self._by_key[key]
            self._headlines.pop(key, None)
        if values is None:
            return
        self._lsh.insert(key, _sketch(values), check_duplication=False)
        self._by_key[key] = values
        self._headlines[key] = headline or frozenset()

    def _restore(self, entry: _Entry) -> None:
        self._put(entry.key, entry.values, entry.headline)

    def find(self, sig: bytes, title: str = "") -> int | None:
        """The smallest indexed key whose text ``sig``'s text is a copy of, under a headline
        that agrees with ``title`` (``headlines_agree``), else None.

        Keys are article ids, given in the order articles were stored, so the smallest is the
        first copy: every reprint links to it rather than to another reprint.
        """
        values = self._checked(sig)
        if _is_empty(values):
            return None
        candidates: list[int] = self._lsh.query(_sketch(values))
        headline = headline_words(title)
        # LSH proposes any pair sharing one band; the estimate over all permutations decides.
        return min(
            (
                c
                for c in candidates
                if _jaccard(values, self._by_key[c]) >= self.threshold
                and headlines_agree(headline, self._headlines[c])
            ),
            default=None,
        )

    def _checked(self, sig: bytes) -> NDArray[np.uint32]:
        if len(sig) != self.num_perm * _VALUE.itemsize:
            raise ValueError(
                f"signature of {len(sig)} bytes in an index of num_perm={self.num_perm}: "
                f"expected {self.num_perm * _VALUE.itemsize} bytes"
            )
        return _values(sig)


@dataclass(frozen=True)
class _Entry:
    """What a key held before an ``add`` in a transaction (``values`` None: nothing)."""

    key: int
    values: NDArray[np.uint32] | None
    headline: frozenset[str] | None


def _words(text: str) -> list[str]:
    text = _TAG.sub(" ", html.unescape(text))
    text = unicodedata.normalize("NFKC", text).casefold().translate(_SEPARATORS)
    return _UNSPACED.sub(r" \g<0> ", text).split()


def _shingles(words: list[str], k: int) -> set[str]:
    if not words:
        return set()
    if len(words) < k:
        return {" ".join(words)}
    return {" ".join(words[i : i + k]) for i in range(len(words) - k + 1)}


@functools.cache
def _permutations(num_perm: int, seed: int) -> NDArray[np.uint32]:
    # Drawing the permutations costs ten times more than hashing a summary: draw them once.
    from datasketch import MinHash

    permutations: NDArray[np.uint32] = MinHash(
        num_perm=num_perm, seed=seed, scheme=_SCHEME
    ).permutations
    permutations.setflags(write=False)
    return permutations


def _values(sig: bytes) -> NDArray[np.uint32]:
    return np.frombuffer(sig, dtype=_VALUE).astype(np.uint32)


def _sketch(values: NDArray[np.uint32]) -> object:
    from datasketch import LeanMinHash

    # LSH reads only the hash values; the seed is not stored in a signature, and not needed.
    return LeanMinHash(seed=SEED, hashvalues=values, scheme=_SCHEME)


def _is_empty(values: NDArray[np.uint32]) -> bool:
    return bool(np.all(values == _EMPTY))


def _jaccard(first: NDArray[np.uint32], second: NDArray[np.uint32]) -> float:
    return float(np.count_nonzero(first == second)) / len(first)

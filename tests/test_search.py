"""A query's words and their FTS5 spelling, and the outlet filter's folding; the searches
themselves run against both databases in ``tests/serve/test_api_search.py``."""

from __future__ import annotations

import pytest

from pipeline.db import search_fold
from pipeline.search import fts5_query, search_words


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("Saint-Denis", ["Saint", "Denis"]),
        ("  beyoncé  ", ["beyoncé"]),
        ("e\u0301te\u0301", ["été"]),  # combining accents joined to their letters
        ('"NEAR(a b, 2)" -c* AND d:*', ["NEAR", "a", "b", "2", "c", "AND", "d"]),
        ("l'été", ["l", "été"]),
        ("snake_case", ["snake", "case"]),
        ("\x00x\x00", ["x"]),
        ('" ( * - ^ :', []),
        ("", []),
        ("Ο σεισμός", ["Ο", "σεισμός"]),  # noqa: RUF001 (Greek on purpose)
    ],
    ids=[
        "hyphen",
        "spaces",
        "combining",
        "operators",
        "apostrophe",
        "underscore",
        "nul",
        "no-word",
        "empty",
        "greek",
    ],
)
def test_a_query_is_its_words(query: str, words: list[str]) -> None:
    assert search_words(query) == words


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["saint", "denis"], '"saint" "denis"*'),
        (["beyoncé"], '"beyoncé"*'),
        ([], ""),
    ],
    ids=["two", "one", "none"],
)
def test_fts5_wants_every_word_the_last_as_a_prefix(words: list[str], expected: str) -> None:
    assert fts5_query(words) == expected


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Harbor Daily", "harbor daily"),
        ("Café Crème", "cafe creme"),
        ("STRASSE Straße", "strasse strasse"),
        ("ΣΕΙΣΜΌΣ σεισμός", "σεισμοσ σεισμοσ"),
        ("İstanbul", "istanbul"),
    ],
    ids=["case", "accents", "sharp-s", "final-sigma", "dotted-i"],
)
def test_search_fold_drops_case_and_accents(name: str, folded: str) -> None:
    assert search_fold(name) == folded

"""Full-text search over the articles' titles and the text read, with each database's own
index (migration 0013), and the outlet filter by part of a name.

A query is its words: runs of letters and digits. Everything else separates them, so
quotes, operators (``AND``, ``NEAR(``, ``-``, ``*``) and hyphens are never syntax, and
"saint-denis" asks for "saint" and "denis" as "Saint Denis" does (the indexes split
"Saint-Denis" into the same two words). An article matches when its title and text hold
every word, in any case and without regard to accents; the last word also matches as the
start of a longer one ("beyon", "raid" for "raids"), for a search typed word by word. A
query without a word matches no article.

* PostgreSQL: ``articles.search_vector @@`` a ``tsquery`` made by ``plainto_tsquery`` (which
  takes any text) of the words folded as the vector's (``storyline_search_fold``: unaccent,
  lower case, final sigma as sigma), its last word then a prefix; asked for first, then
  sent as a value the planner can weigh.
* SQLite: the FTS5 table ``article_search`` ``MATCH`` each word as a quoted string, the last
  with ``*``; its ``unicode61 remove_diacritics 2`` tokenizer folds case and Latin accents
  alike in the articles and in the query. (PostgreSQL's unaccent reaches further: "lodz"
  finds "Łódź" and "σεισμος" finds "σεισμός" there only.)
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    cast,
    column,
    false,
    func,
    literal,
    literal_column,
    select,
    table,
)
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.orm import QueryableAttribute, Session

from models import SEARCH_COLUMN, SEARCH_TABLE, Article, Feed, Story, StoryArticle
from pipeline.db import SEARCH_FOLD, search_fold

_WORD = re.compile(r"[^\W_]+")
_CONFIG: ColumnElement[Any] = literal_column("'pg_catalog.simple'::regconfig")
"""The vector's text search configuration: words as they are, no stemming, no stop words."""


def search_words(query: str) -> list[str]:
    """The words of ``query``: runs of letters and digits (NFC: an accent typed as a
    combining mark stays on its letter)."""
    return _WORD.findall(unicodedata.normalize("NFC", query))


def fts5_query(words: list[str]) -> str:
    """An FTS5 query for every one of ``words``, the last as a prefix. Words hold letters
    and digits only, so quoting each makes it a plain string, never an operator."""
    quoted = [f'"{word}"' for word in words]
    return " ".join(quoted) + "*" if quoted else ""


def matching_article_ids(session: Session, query: str) -> Select[Any] | None:
    """The ids of the articles whose title and text match ``query``; None when nothing can
    (no word)."""
    words = search_words(query)
    if not words:
        return None
    if _dialect(session) == "postgresql":
        matches = _vector_matches(session, words)
        return None if matches is None else select(Article.id).where(matches)
    index = table(SEARCH_TABLE, column("rowid"))
    return select(index.c.rowid).where(literal_column(SEARCH_TABLE).match(fts5_query(words)))


def article_matches(session: Session, query: str) -> ColumnElement[bool]:
    """A condition on ``Article``: its title and text match ``query``."""
    words = search_words(query)
    if words and _dialect(session) == "postgresql":
        matches = _vector_matches(session, words)
        return false() if matches is None else matches
    ids = matching_article_ids(session, query)
    # ``id + 0``: no index on it, so SQLite walks the newest articles first (the listing's
    # index) and checks each against the matches, instead of fetching every match by id and
    # sorting them all: at 100,000 articles 1 ms instead of 12 for a word in 2 % of them,
    # 15 ms instead of 420 for one in all of them (``bench.search``).
    return false() if ids is None else (Article.id + 0).in_(ids)


def story_articles_match(session: Session, query: str) -> ColumnElement[bool]:
    """A condition on ``Story``: one of its articles matches ``query``."""
    ids = matching_article_ids(session, query)
    if ids is None:
        return false()
    members = select(StoryArticle.story_id).where(StoryArticle.article_id.in_(ids))
    return Story.id.in_(members)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _vector_matches(session: Session, words: list[str]) -> ColumnElement[bool] | None:
    """PostgreSQL: the article's vector matches the words, the last as a prefix; None when
    the words fold to no lexeme.

    The ``tsquery`` is asked for first and sent back as a value: the planner then weighs it
    against the column's statistics (a rare word: the GIN index; a common one: the newest
    articles first, until the page is full), which it cannot do for an expression computed
    while the query runs (``storyline_search_fold`` is STABLE)."""
    plain = func.plainto_tsquery(_CONFIG, getattr(func, SEARCH_FOLD)(" ".join(words)))
    # plainto_tsquery prints as 'a' & 'b' (lexemes quoted and escaped): ':*' after it makes
    # the last one a prefix.
    tsquery = session.scalar(select(cast(plain, Text)))
    if not tsquery:
        return None
    vector = literal_column(f"{Article.__tablename__}.{SEARCH_COLUMN}", TSVECTOR)
    matches: ColumnElement[bool] = vector.op("@@")(cast(literal(tsquery + ":*"), TSQUERY))
    return matches


def outlet_feeds(dialect: str, name: str) -> Select[Any]:
    """The ids of the feeds whose outlet matches ``name`` (``outlet_matches``): a few rows,
    read once per query rather than matched again for every article."""
    return select(Feed.id).where(outlet_matches(dialect, Feed.outlet, name))


def outlet_matches(
    dialect: str, outlet: ColumnElement[str] | QueryableAttribute[str], name: str
) -> ColumnElement[bool]:
    """``outlet`` holds every word of ``name`` (in any case, without regard to accents):
    "harbor daily" finds "Harbor Daily" and "The Harbor Daily Tribune". A name without a word
    ("-") must be the outlet's exact name."""
    words = search_words(name)
    if not words:
        return outlet == name
    fold = getattr(func, SEARCH_FOLD)
    folded_outlet: ColumnElement[str] = fold(outlet)
    # Words hold letters and digits only: no LIKE wildcard to escape. PostgreSQL folds them
    # as it folds the name (its unaccent reaches further than Python's decomposition).
    folded_words = [fold(word) if dialect == "postgresql" else search_fold(word) for word in words]
    return and_(*(folded_outlet.contains(word) for word in folded_words))

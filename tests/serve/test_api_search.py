"""Full-text search and the outlet filter by part of a name, through ``GET /api/articles``
and ``GET /api/stories`` on both backends: accents, case, hyphens, words only in an
article's text, a story found through its articles, hostile queries, the index kept in step
with every write, and filled by the migration for the articles that were there before it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, update

from models import Article, Feed
from pipeline.cli import cli
from pipeline.db import current_revision, make_engine, migrate, session_scope
from pipeline.search import matching_article_ids
from pipeline.serve.api import create_app
from pipeline.settings import Settings
from tests.factories import T0, add_feeds, add_story, add_text_article
from tests.test_migrations import move_to


@dataclass(frozen=True)
class Corpus:
    """Stories whose titles and keywords name none of the words searched: only their
    articles do."""

    pop_story: int
    raid_story: int
    summit_story: int
    beyonce: int
    """Title "Beyoncé plays the Stade de France" (Harbor Daily, in ``pop_story``)."""
    hyphen: int
    """Title "Police raid in Saint-Denis" (Northern Courier, in ``raid_story``)."""
    spaced: int
    """Text "... in Saint Denis ..." (Harbor Daily, in no story)."""
    hollande: int
    """Title "Leaders meet", page body naming François Hollande (Café Crème, ``summit_story``)."""
    weather: int
    """Nothing searched for (Northern Courier, in no story)."""


def add_corpus(engine: Engine) -> Corpus:
    feeds = add_feeds(engine, ["Harbor Daily", "Northern Courier", "Café Crème Gazette"])
    harbor, courier, creme = (
        feeds["Harbor Daily"],
        feeds["Northern Courier"],
        feeds["Café Crème Gazette"],
    )
    pop = add_story(engine, "Pop star tours Europe", keywords=["tour", "stadium"])
    raid = add_story(engine, "Raid north of Paris", keywords=["police", "molenbeek"])
    summit = add_story(engine, "Summit in Paris", keywords=["climate"])
    at = [T0 + timedelta(hours=hours) for hours in range(5)]
    return Corpus(
        pop_story=pop,
        raid_story=raid,
        summit_story=summit,
        beyonce=add_text_article(
            engine, harbor, "Beyoncé plays the Stade de France", at[0], pop, summary="A show."
        ),
        hyphen=add_text_article(
            engine, courier, "Police raid in Saint-Denis", at[1], raid, summary="Shots fired."
        ),
        spaced=add_text_article(
            engine, harbor, "Residents speak", at[2], summary="Calm returns in Saint Denis."
        ),
        hollande=add_text_article(
            engine,
            creme,
            "Leaders meet",
            at[3],
            summit,
            summary="A teaser.",
            body="President François Hollande opened the talks.",
        ),
        weather=add_text_article(engine, courier, "Rain all week", at[4], summary="Grey skies."),
    )


@pytest.fixture
def corpus(engine: Engine) -> Corpus:
    return add_corpus(engine)


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings.load(database_url=db_url))) as test_client:
        yield test_client


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def article_ids(client: TestClient, **params: Any) -> list[int]:
    return [item["id"] for item in get(client, "/api/articles", **params)["items"]]


def story_ids(client: TestClient, **params: Any) -> set[int]:
    return {item["id"] for item in get(client, "/api/stories", **params)["items"]}


ARTICLE_SEARCHES = [
    ("beyonce", ["beyonce"]),
    ("BEYONCÉ", ["beyonce"]),
    ("plays BEYONCE", ["beyonce"]),
    ("beyon", ["beyonce"]),  # the last word as a prefix
    ("Saint Denis", ["spaced", "hyphen"]),
    ("saint-denis", ["spaced", "hyphen"]),
    ("SAINT–DENIS", ["spaced", "hyphen"]),  # noqa: RUF001 (an en dash on purpose)
    ("denis saint", ["spaced", "hyphen"]),  # every word, in any order
    ("saint denis police", ["hyphen"]),
    ("hollande", ["hollande"]),  # only in the page's body
    ("francois", ["hollande"]),
    ("a teaser", []),  # the feed's summary the page's body replaced
    ("stade paris", []),  # every word, not any
    ("saint denis c", ["spaced"]),  # "Calm": "c" starts no word of the raid's article
]


@pytest.mark.parametrize(
    ("query", "found"),
    ARTICLE_SEARCHES,
    ids=[query for query, _ in ARTICLE_SEARCHES],
)
def test_article_search_ignores_accents_case_and_hyphens(
    client: TestClient, corpus: Corpus, query: str, found: list[str]
) -> None:
    # Newest first, as every listing.
    assert article_ids(client, q=query) == [getattr(corpus, name) for name in found]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("hollande", ["summit_story"]),  # in an article's body only
        ("beyonce", ["pop_story"]),  # in an article's title, with its accent
        ("saint-denis", ["raid_story"]),  # the other article is in no story
        ("MOLEN", ["raid_story"]),  # part of a keyword, as before
        ("tours eur", ["pop_story"]),  # part of the title, as before
        ("nobody anywhere", []),
    ],
    ids=["body", "title", "hyphen", "keyword", "story-title", "nothing"],
)
def test_a_story_matches_when_one_of_its_articles_does(
    client: TestClient, corpus: Corpus, query: str, found: list[str]
) -> None:
    assert story_ids(client, q=query) == {getattr(corpus, name) for name in found}


@pytest.mark.parametrize(
    ("outlet", "found"),
    [
        ("Harbor Daily", ["spaced", "beyonce"]),  # the exact name still works
        ("harbor daily", ["spaced", "beyonce"]),
        ("HARBOR", ["spaced", "beyonce"]),
        ("daily harbor", ["spaced", "beyonce"]),
        ("cafe creme", ["hollande"]),
        ("crème", ["hollande"]),
        ("courier", ["weather", "hyphen"]),
        ("harbor courier", []),  # every word in one name
        ("Nobody's Gazette", []),
        ("-", []),  # no word: the exact name, which no outlet has
    ],
    ids=[
        "exact",
        "lower",
        "upper",
        "order",
        "accents",
        "accented",
        "one-word",
        "two-names",
        "unknown",
        "no-word",
    ],
)
def test_outlet_filter_by_part_of_a_name(
    client: TestClient, corpus: Corpus, outlet: str, found: list[str]
) -> None:
    assert article_ids(client, outlet=outlet) == [getattr(corpus, name) for name in found]
    stories = {
        {
            "spaced": None,
            "beyonce": corpus.pop_story,
            "hollande": corpus.summit_story,
            "weather": None,
            "hyphen": corpus.raid_story,
        }[name]
        for name in found
    } - {None}
    assert story_ids(client, outlet=outlet) == stories


def test_outlet_and_search_together(client: TestClient, corpus: Corpus) -> None:
    assert article_ids(client, q="saint denis", outlet="harbor") == [corpus.spaced]
    assert story_ids(client, q="saint denis", outlet="harbor") == set()
    assert story_ids(client, q="saint denis", outlet="courier") == {corpus.raid_story}


HOSTILE = [
    '"',
    '""',
    "*",
    "NEAR(",
    "NEAR(saint denis, 2)",
    "-",
    "-saint",
    "AND OR",
    "NOT",
    "saint OR",
    "^saint",
    "title:saint",
    "{title text}: saint",
    "saint:*",
    "saint & !denis",
    "saint <-> denis",
    "(saint",
    "'",
    "\\",
    "%_",
    "'; DROP TABLE articles; --",
    "ŉ ʼn ʻ",  # letters PostgreSQL's unaccent turns into apostrophes  # noqa: RUF001
    "ꟊ",  # a letter newer than SQLite's unicode61 tables
    "🦆 🦆",
    "e\u0301",  # an accent as a combining mark
    "𝔅𝔢𝔶𝔬𝔫𝔠𝔢",  # noqa: RUF001 (mathematical letters on purpose)
    "x" * 200,
    "a " * 100,
    "saint " * 33,
]


@pytest.mark.parametrize("query", HOSTILE, ids=[f"hostile-{i}" for i in range(len(HOSTILE))])
def test_hostile_queries_are_words_or_nothing_never_an_error(
    client: TestClient, corpus: Corpus, query: str
) -> None:
    for path in ("/api/articles", "/api/stories"):
        for name in ("q", "outlet"):
            response = client.get(path, params={name: query})
            assert response.status_code == 200, (path, name, response.text)


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ('"saint denis"', ["spaced", "hyphen"]),  # quotes are no phrase: two words
        ("saint AND denis", []),  # "and" is a word to find, as any other
        ("-police saint", ["hyphen"]),  # no negation either: "police" is wanted
        ("saint*", ["spaced", "hyphen"]),
        ("NEAR(saint denis, 2)", []),  # "near" and "2" are words too
        ("*", []),  # no word: nothing
        ("", ["weather", "hollande", "spaced", "hyphen", "beyonce"]),  # no filter at all
    ],
    ids=["quotes", "and", "minus", "star", "near", "star-alone", "empty"],
)
def test_query_syntax_is_only_words(
    client: TestClient, corpus: Corpus, query: str, found: list[str]
) -> None:
    assert article_ids(client, q=query) == [getattr(corpus, name) for name in found]


def test_the_index_follows_every_write_of_the_text(
    engine: Engine, client: TestClient, corpus: Corpus
) -> None:
    def indexed(word: str) -> set[int]:
        """What the index itself answers, before any join with the articles."""
        with session_scope(engine) as session:
            ids = matching_article_ids(session, word)
            assert ids is not None
            return set(session.scalars(ids))

    with session_scope(engine) as session:
        # As ingest does when an entry comes back changed, and extract when it reads a page.
        session.execute(
            update(Article).where(Article.id == corpus.weather).values(title="Sun at last")
        )
        session.execute(
            update(Article).where(Article.id == corpus.spaced).values(summary="Calm in Lyon.")
        )
        session.execute(
            update(Article).where(Article.id == corpus.hollande).values(body="Merkel spoke.")
        )
    assert article_ids(client, q="rain") == []
    assert article_ids(client, q="sun last") == [corpus.weather]
    assert article_ids(client, q="saint denis") == [corpus.hyphen]
    assert article_ids(client, q="lyon") == [corpus.spaced]
    assert article_ids(client, q="hollande") == []
    assert story_ids(client, q="merkel") == {corpus.summit_story}
    with session_scope(engine) as session:
        # A body dropped (the feed's summary read again), then the feed removed with its
        # articles (ON DELETE CASCADE).
        session.execute(update(Article).where(Article.id == corpus.hollande).values(body=None))
    assert article_ids(client, q="teaser") == [corpus.hollande]
    assert indexed("merkel") == set()
    with session_scope(engine) as session:
        session.execute(delete(Feed).where(Feed.outlet == "Northern Courier"))
    assert indexed("sun") == set()
    assert indexed("police") == set()
    assert indexed("beyonce") == {corpus.beyonce}


def test_the_migration_indexes_the_articles_already_there(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        move_to(engine, "0012", down=False)
        corpus = add_corpus(engine)
        migrate(engine)
        assert current_revision(engine) != "0012"
        with TestClient(create_app(Settings.load(database_url=db_url))) as client:
            assert article_ids(client, q="saint-denis") == [corpus.spaced, corpus.hyphen]
            assert article_ids(client, q="hollande") == [corpus.hollande]
            assert story_ids(client, q="beyonce") == {corpus.pop_story}
            # Down and up again: the same, with nothing indexed twice.
            move_to(engine, "0012", down=True)
            migrate(engine)
            assert article_ids(client, q="saint-denis") == [corpus.spaced, corpus.hyphen]
            assert get(client, "/api/articles", q="beyonce")["total"] == 1
    finally:
        engine.dispose()


def test_the_command_line_searches_as_the_api(engine: Engine, db_url: str, corpus: Corpus) -> None:
    runner = CliRunner()
    found = runner.invoke(
        cli,
        [
            "articles",
            "--q",
            "SAINT DENIS",
            "--outlet",
            "harbor",
            "--format",
            "json",
            "--db",
            db_url,
        ],
    )
    assert found.exit_code == 0, found.output
    assert [item["id"] for item in json.loads(found.stdout)] == [corpus.spaced]
    stories = runner.invoke(cli, ["stories", "--q", "hollande", "--format", "json", "--db", db_url])
    assert stories.exit_code == 0, stories.output
    assert [item["id"] for item in json.loads(stories.stdout)] == [corpus.summit_story]
    none = runner.invoke(cli, ["stories", "--outlet", "nobody", "--db", db_url])
    assert (none.exit_code, none.stdout.strip()) == (0, "no stories match")

"""Boilerplate two articles' bodies end with, set apart from the article: dropped from both,
on both backends, through the extract stage."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select

from models import Article, SharedParagraph
from pipeline.db import session_scope
from pipeline.extract.pages import StoredPages
from pipeline.extract.shared import digest, without
from pipeline.extract.stage import extract
from pipeline.settings import Settings
from tests.extract.test_article import BIO, FLOOD, FLOOD_TITLE, STRIKE, STRIKE_TITLE, bio_page
from tests.extract.test_stage import add_teaser
from tests.factories import add_feeds

NOW = datetime(2026, 3, 3, 12, tzinfo=UTC)


def add(engine: Engine, feed: int, n: int, title: str, teaser: str) -> int:
    return add_teaser(engine, feed, n, title=title, teaser=teaser)


def bodies(engine: Engine) -> dict[int, tuple[str | None, str | None]]:
    with session_scope(engine) as session:
        rows = session.execute(select(Article.id, Article.body, Article.text_hash))
        return {row[0]: (row[1], row[2]) for row in rows}


def test_an_author_note_two_articles_end_with_is_in_neither(
    engine: Engine, settings: Settings
) -> None:
    feed = add_feeds(engine, ["Courier"])["Courier"]
    flood = add(engine, feed, 1, FLOOD_TITLE, FLOOD[0])
    pages = {
        "https://courier.example/1": bio_page(FLOOD_TITLE, FLOOD[:2]).encode(),
        "https://courier.example/2": bio_page(STRIKE_TITLE, STRIKE[:2]).encode(),
        "https://courier.example/3": bio_page(FLOOD_TITLE, FLOOD[:2]).encode(),
    }
    assert extract(engine, settings, pages=StoredPages(pages), now=NOW).ok == 1
    # one page cannot tell its author's note from its last paragraph
    first_body, first_hash = bodies(engine)[flood]
    assert first_body == "\n".join([*FLOOD[:2], BIO])
    strike = add(engine, feed, 2, STRIKE_TITLE, STRIKE[0])
    assert extract(engine, settings, pages=StoredPages(pages), now=NOW).ok == 1
    stored = bodies(engine)
    assert stored[strike][0] == "\n".join(STRIKE[:2])
    # the first article loses it too, and its text changes (it is embedded again)
    assert stored[flood][0] == "\n".join(FLOOD[:2])
    assert stored[flood][1] != first_hash
    with session_scope(engine) as session:
        rows = session.execute(select(SharedParagraph.article_id, SharedParagraph.shared)).all()
    assert rows == [(flood, True)]
    # a third article with the note: dropped at once; nothing else changes
    reprint = add(engine, feed, 3, FLOOD_TITLE, FLOOD[0])
    assert extract(engine, settings, pages=StoredPages(pages), now=NOW).ok == 1
    again = bodies(engine)
    assert again[reprint][0] == "\n".join(FLOOD[:2])
    assert {k: v for k, v in again.items() if k != reprint} == stored


def test_without_drops_lines_by_their_squashed_text() -> None:
    text = "\n".join([FLOOD[0], BIO, FLOOD[1]])
    assert without(text, {digest(BIO.upper().replace(" ", "  "))}) == "\n".join(FLOOD[:2])
    assert without(text, set()) == text

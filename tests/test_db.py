"""``among``: ``IN`` over any number of values, as one bound parameter."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, insert, select

from models import Feed, StoryArticle
from pipeline.db import among, session_scope
from pipeline.stories.state import _current_stories, _story_texts
from tests.factories import T0, add_article, add_feeds, add_story, direction

MANY = 70_000
"""More values than PostgreSQL's wire protocol takes parameters in one statement (65,535)."""


def test_among_takes_more_values_than_a_statement_takes_parameters(engine: Engine) -> None:
    feeds = add_feeds(engine, ["alpha", "beta", "gamma"])
    sizes: list[int] = []  # parameters of each statement on the feeds table

    @event.listens_for(engine, "before_cursor_execute")
    def count(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        if "FROM feeds" in statement:
            sizes.append(len(parameters))  # type: ignore[arg-type]

    wanted = [feeds["alpha"], feeds["gamma"]]
    ids = [-n for n in range(1, MANY)] + wanted
    names = [f"feed {n}" for n in range(MANY)] + ["beta"]
    with session_scope(engine) as session:
        assert sorted(session.scalars(select(Feed.id).where(among(Feed.id, ids)))) == wanted
        assert list(session.scalars(select(Feed.name).where(among(Feed.name, names)))) == ["beta"]
        assert list(session.scalars(select(Feed.id).where(among(Feed.id, [])))) == []
    assert sizes == [1, 1, 1]  # one parameter each, whatever the number of values


def test_the_stage_reads_a_window_of_more_articles_than_parameters(engine: Engine) -> None:
    feed = add_feeds(engine, ["alpha"])["alpha"]
    story = add_story(engine, "Quake")
    articles = [
        add_article(engine, feed, title, T0, direction(n), summary=f"{title} summary")
        for n, title in enumerate(["Quake hits Chile", "Aftershocks in Chile"])
    ]
    with session_scope(engine) as session:
        session.execute(
            insert(StoryArticle),
            [{"story_id": story, "article_id": a, "since": T0} for a in articles],
        )
    with session_scope(engine) as session:
        window = [-n for n in range(1, MANY)] + articles
        assert _current_stories(session, window) == dict.fromkeys(articles, story)
        texts = _story_texts(session, [-n for n in range(1, MANY)] + [story], 200)
    assert list(texts) == [story]
    assert "Quake hits Chile" in texts[story]
    assert "Aftershocks in Chile" in texts[story]


@pytest.mark.parametrize("values", [[1, 2, 3], ["a", "b"]])
def test_among_renders_one_parameter(engine: Engine, values: list[int | str]) -> None:
    column = Feed.id if isinstance(values[0], int) else Feed.name
    compiled = select(Feed.id).where(among(column, values)).compile(engine)
    assert len(compiled.params) == 1

"""Each story's summary in the API (the story page's sentences, the list's first one) and
the CLI's JSON, on the demo's database (both backends)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from models import Article, Feed, StoryArticle, StorySentence
from pipeline.cli import cli
from pipeline.db import session_scope
from tests.serve.test_api import demo, demo_engine, demo_url, get

__all__ = ["demo", "demo_engine", "demo_url"]


def stored(engine: Engine) -> dict[int, list[dict[str, object]]]:
    """Each story's sentences as the tables hold them, with their article's outlet and link."""
    found: dict[int, list[dict[str, object]]] = {}
    with session_scope(engine) as session:
        for sentence, outlet, url in session.execute(
            select(StorySentence, Feed.outlet, Article.url)
            .join(Article, Article.id == StorySentence.article_id)
            .join(Feed, Feed.id == Article.feed_id)
            .order_by(StorySentence.story_id, StorySentence.position)
        ):
            found.setdefault(sentence.story_id, []).append(
                {
                    "sentence": sentence.sentence,
                    "article_id": sentence.article_id,
                    "outlet": outlet,
                    "url": url,
                }
            )
    return found


def test_the_story_page_has_two_or_three_sentences_of_its_own_articles(
    demo: TestClient, demo_engine: Engine
) -> None:
    expected = stored(demo_engine)
    listed = get(demo, "/api/stories")["items"]
    assert listed
    with session_scope(demo_engine) as session:
        for item in listed:
            story = get(demo, f"/api/stories/{item['id']}")
            summary = story["summary"]
            assert 2 <= len(summary) <= 3
            shown = [
                {k: s[k] for k in ("sentence", "article_id", "outlet", "url")} for s in summary
            ]
            assert shown == expected[item["id"]]
            assert len({s["sentence"] for s in summary}) == len(summary)
            for part in summary:
                member = session.get_one(StoryArticle, part["article_id"])
                assert member.story_id == item["id"]
                assert part["sentence"] in session.get_one(Article, part["article_id"]).text
            assert story["lead"] == summary[0]


def test_the_list_gives_each_story_its_first_sentence(demo: TestClient) -> None:
    for item in get(demo, "/api/stories")["items"]:
        assert item["lead"] == get(demo, f"/api/stories/{item['id']}")["summary"][0]
    trending = get(demo, "/api/trending", hours=48)["items"]
    assert trending
    for item in trending:
        assert item["lead"] == get(demo, f"/api/stories/{item['id']}")["summary"][0]
    first = trending[0]["id"]
    related = get(demo, f"/api/stories/{first}/related")["items"]
    assert related
    for item in related:
        assert item["lead"] == get(demo, f"/api/stories/{item['id']}")["summary"][0]


def test_the_cli_json_lists_the_first_sentence(demo: TestClient, demo_url: str) -> None:
    result = CliRunner().invoke(cli, ["stories", "--db", demo_url, "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = {story["id"]: story["lead"] for story in json.loads(result.stdout)}
    assert printed
    for story_id, lead in printed.items():
        assert lead == get(demo, f"/api/stories/{story_id}")["summary"][0]

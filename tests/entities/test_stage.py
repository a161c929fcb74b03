"""The entity stage on both backends: read once, read again when the text changes, one
entity per name across articles, a lone surname linked to its one known full name."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from models import Article, ArticleEntity, Entity, EntityReading
from pipeline.db import session_scope
from pipeline.entities.model import load_ner
from pipeline.entities.stage import tag_entities
from pipeline.settings import Settings
from tests.factories import T0, add_feeds

ARTICLES = [
    (
        "Hollande meets Putin in Moscow",
        "French President François Hollande met Vladimir Putin at the Kremlin on Thursday. "
        "Putin said Russia and France would share intelligence.",
    ),
    (
        "Francois Hollande calls for a grand coalition",
        "Francois Hollande spoke to the Congress in Versailles on Monday.",
    ),
    (
        "Coalition talks planned",
        "Mr. Hollande said on Sunday that he would travel to Washington and Moscow.",
    ),
]


def add_articles(
    engine: Engine, articles: list[tuple[str, str]], outlet: str = "Alpha"
) -> list[int]:
    feeds = add_feeds(engine, [outlet])
    ids = []
    with session_scope(engine) as session:
        for i, (title, summary) in enumerate(articles):
            article = Article(
                feed_id=feeds[outlet],
                guid=f"g{i}",
                url=None,
                title=title,
                summary=summary,
                published_at=T0 + timedelta(minutes=i),
                published_estimated=False,
                fetched_at=T0,
                content_hash=f"h{i}",
            )
            session.add(article)
            session.flush()
            ids.append(article.id)
    return ids


def named(engine: Engine) -> dict[int, set[tuple[str, str]]]:
    """Each article's entities as (kind, name)."""
    out: dict[int, set[tuple[str, str]]] = {}
    with session_scope(engine) as session:
        rows = session.execute(
            select(ArticleEntity.article_id, Entity.kind, Entity.name).join(
                Entity, Entity.id == ArticleEntity.entity_id
            )
        )
        for article_id, kind, name in rows:
            out.setdefault(article_id, set()).add((kind, name))
    return out


def test_tags_every_article_once_and_names_one_person_one_way(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url, entities_batch_size=2)
    ids = add_articles(engine, ARTICLES)
    seen: list[tuple[int, int]] = []
    report = tag_entities(engine, settings, progress=lambda done, of: seen.append((done, of)))
    assert (report.articles, report.batches) == (3, 2)
    assert seen == [(2, 3), (3, 3)]
    tags = named(engine)
    hollande = ("person", "François Hollande")
    # one entity for "François Hollande", "Francois Hollande" and the lone "Hollande" of the
    # third article (linked across articles: the one known person it ends)
    assert all(hollande in tags[article] for article in ids), tags
    with session_scope(engine) as session:
        persons = list(session.scalars(select(Entity.name).where(Entity.kind == "person")))
        assert persons.count("François Hollande") == 1
        assert not {"Hollande", "Francois Hollande", "Putin"} & set(persons)
        stored = {
            row[0]: row[1]
            for row in session.execute(select(EntityReading.article_id, EntityReading.read_hash))
        }
    assert stored == {ids[0]: "h0", ids[1]: "h1", ids[2]: "h2"}
    assert ("place", "Moscow") in tags[ids[0]]

    # A rerun reads nothing and changes nothing.
    before = tags
    again = tag_entities(engine, settings)
    assert (again.articles, again.mentions, again.new_entities) == (0, 0, 0)
    assert named(engine) == before


def test_changed_text_is_read_again(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    ids = add_articles(engine, ARTICLES[:2])
    tag_entities(engine, settings)
    with session_scope(engine) as session:
        session.execute(
            update(Article)
            .where(Article.id == ids[1])
            .values(
                title="Quake strikes off Chile",
                summary="A magnitude 8.2 earthquake struck off Iquique, Chile, on Tuesday.",
                content_hash="changed",
            )
        )
    report = tag_entities(engine, settings)
    assert report.articles == 1
    tags = named(engine)
    assert ("place", "Chile") in tags[ids[1]]
    assert not any(name == "François Hollande" for _, name in tags[ids[1]])
    assert ("person", "François Hollande") in tags[ids[0]]
    with session_scope(engine) as session:
        assert (
            session.scalar(
                select(EntityReading.read_hash).where(EntityReading.article_id == ids[1])
            )
            == "changed"
        )


def test_only_the_articles_given(engine: Engine, db_url: str) -> None:
    ids = add_articles(engine, ARTICLES)
    report = tag_entities(engine, Settings.load(database_url=db_url), article_ids=[ids[2]])
    assert report.articles == 1
    assert set(named(engine)) == {ids[2]}


def test_the_outlets_own_name_is_no_entity(engine: Engine, db_url: str) -> None:
    ids = add_articles(
        engine,
        [("Fire in Richmond - WWBT", "WWBT reports a fire on Broad Street in Richmond, Virginia.")],
        outlet="WWBT",
    )
    tag_entities(engine, Settings.load(database_url=db_url))
    names = {name for _, name in named(engine)[ids[0]]}
    assert "Richmond" in names
    assert "WWBT" not in names


@pytest.mark.parametrize("model", ["no_such_pipeline"])
def test_a_missing_model_stops_before_any_write(engine: Engine, db_url: str, model: str) -> None:
    from pipeline.errors import ModelError

    add_articles(engine, ARTICLES[:1])
    with pytest.raises(ModelError, match="no_such_pipeline"):
        tag_entities(engine, Settings.load(database_url=db_url, entities_model=model))
    assert named(engine) == {}


def test_another_model_reads_every_article_again(engine: Engine, db_url: str) -> None:
    settings = Settings.load(database_url=db_url)
    add_articles(engine, ARTICLES[:2])
    nlp = load_ner(settings.entities_model)
    assert tag_entities(engine, settings, nlp=nlp).articles == 2
    other = Settings.load(database_url=db_url, entities_model="another_pipeline")
    assert tag_entities(engine, other, nlp=nlp).articles == 2
    assert tag_entities(engine, other, nlp=nlp).articles == 0
    with session_scope(engine) as session:
        assert set(session.scalars(select(EntityReading.model))) == {"another_pipeline"}

"""Entity stage: the people, places and organisations of every article, read once, read
again when its text changes.

Selects the articles never read or read from other text (``selection.needing_entities``;
``entity_readings`` keeps the hash of the text read, as embeddings keep theirs), runs the
recogniser over them in batches (``model.entities``) and stores each batch in one
transaction: the entities (one per kind and key; a lone surname linked to the one known
person it ends, ``names.link``), the article's links to them (replacing what an earlier
reading stored) and the reading. A killed run keeps its finished batches; a rerun reads only
what is left, and a run over unchanged text changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, Row, delete, select, update
from sqlalchemy.orm import Session

from models import Article, ArticleEntity, Entity, EntityReading, Feed
from pipeline.db import insert_ignore, session_scope
from pipeline.entities.mentions import Kind, site_names
from pipeline.entities.model import Text, entities, load_ner
from pipeline.entities.names import Found, better_name, link, surname_index
from pipeline.entities.selection import needing_entities
from pipeline.progress import Progress
from pipeline.settings import Settings
from pipeline.stopping import StopFlag

if TYPE_CHECKING:
    from spacy.language import Language

log = logging.getLogger(__name__)


@dataclass
class EntitiesReport:
    articles: int = 0
    """Articles read (new, or with changed text)."""
    mentions: int = 0
    """Links from those articles to entities."""
    new_entities: int = 0
    batches: int = 0


ArticleRow = Row[int, str, str, str, str, str]
"""An article to read: id, title, text, read hash, outlet, feed name."""


def tag_entities(
    engine: Engine,
    settings: Settings,
    nlp: Language | None = None,
    progress: Progress | None = None,
    *,
    article_ids: Collection[int] | None = None,
    stop: StopFlag | None = None,
) -> EntitiesReport:
    """Find the entities of every article whose text was not read yet (of ``article_ids``,
    if given), in batches of ``entities_batch_size``, one transaction each. A ``stop``
    asked for is honoured after the model is loaded and after each batch."""
    model = settings.entities_model
    stop = stop or StopFlag()
    todo = _articles_to_read(engine, model, article_ids)
    report = EntitiesReport()
    if not todo:
        return report
    recogniser = nlp or load_ner(model)
    stop.check(f"0 of {len(todo)} articles read for entities")
    started = time.perf_counter()
    with session_scope(engine) as session:
        persons = surname_index(
            session.scalars(select(Entity.key).where(Entity.kind == Kind.PERSON))
        )
    size = settings.entities_batch_size
    chars = settings.entities_text_chars
    for start in range(0, len(todo), size):
        batch = todo[start : start + size]
        texts = [
            Text(row.title or "", (row.text or "")[:chars], site_names([row.outlet, row.feed]))
            for row in batch
        ]
        found = list(entities(recogniser, texts, batch_size=size))
        for items in found:  # full names of this batch, before its surnames are linked
            for item in items:
                if item.kind == Kind.PERSON and " " in item.key:
                    persons.setdefault(item.key.rsplit(" ", 1)[1], []).append(item.key)
        with session_scope(engine) as session:
            new, links = _store(session, model, batch, found, persons)
        report.articles += len(batch)
        report.mentions += links
        report.new_entities += new
        report.batches += 1
        done = min(start + size, len(todo))
        log.info(
            "entities progress",
            extra={"done": done, "of": len(todo), "model": model,
                   "seconds": round(time.perf_counter() - started, 3)},
        )  # fmt: skip
        if progress is not None:
            progress(done, len(todo))
        stop.check(f"{done} of {len(todo)} articles read for entities")
    return report


def _articles_to_read(
    engine: Engine, model: str, article_ids: Collection[int] | None
) -> list[ArticleRow]:
    query = needing_entities(
        select(
            Article.id,
            Article.title,
            Article.text,
            Article.read_hash,
            Feed.outlet,
            Feed.name.label("feed"),
        ).join(Feed, Feed.id == Article.feed_id),
        model,
    )
    if article_ids is not None:
        query = query.where(Article.id.in_(list(article_ids)))
    with session_scope(engine) as session:
        return list(session.execute(query).all())


def _store(
    session: Session,
    model: str,
    batch: Sequence[ArticleRow],
    found: Sequence[list[Found]],
    persons: dict[str, list[str]],
) -> tuple[int, int]:
    """Store one batch's entities, links and readings; returns (new entities, links)."""
    canonical = [[_linked(item, persons) for item in items] for items in found]
    wanted: dict[tuple[str, str], str] = {}
    for items, originals in zip(canonical, found, strict=True):
        for item, original in zip(items, originals, strict=True):
            if item is original:
                pair = (item.kind.value, item.key)
                wanted[pair] = better_name(wanted.get(pair, item.name), item.name)
    for items in canonical:  # a linked surname's person is stored already, or in this batch
        for item in items:
            wanted.setdefault((item.kind.value, item.key), item.name)
    new = insert_ignore(
        session,
        Entity.__table__,  # type: ignore[arg-type]
        [{"kind": kind, "key": key, "name": name} for (kind, key), name in sorted(wanted.items())],
    )
    ids: dict[tuple[str, str], int] = {}
    for chunk in _chunks(sorted(wanted), 500):
        keys = {key for _, key in chunk}
        for entity_id, kind, key, name in session.execute(
            select(Entity.id, Entity.kind, Entity.key, Entity.name).where(Entity.key.in_(keys))
        ):
            pair = (kind, key)
            if pair not in wanted:
                continue
            ids[pair] = entity_id
            shown = better_name(name, wanted[pair])
            if shown != name:
                session.execute(update(Entity).where(Entity.id == entity_id).values(name=shown))
    article_ids = [row.id for row in batch]
    session.execute(delete(ArticleEntity).where(ArticleEntity.article_id.in_(article_ids)))
    session.execute(delete(EntityReading).where(EntityReading.article_id.in_(article_ids)))
    links: list[dict[str, object]] = []
    for row, items in zip(batch, canonical, strict=True):
        merged: dict[int, dict[str, object]] = {}
        for item in items:
            entity_id = ids[(item.kind.value, item.key)]
            link_row = merged.get(entity_id)
            if link_row is None:
                merged[entity_id] = {
                    "article_id": row.id,
                    "entity_id": entity_id,
                    "mentions": item.mentions,
                    "in_title": item.in_title,
                }
            else:  # a surname and its full name, stored apart, linked to one person
                link_row["mentions"] = int(str(link_row["mentions"])) + item.mentions
                link_row["in_title"] = bool(link_row["in_title"]) or item.in_title
        links.extend(merged.values())
    # Ignoring conflicts: a concurrent run (the CLI beside the DAG) that stored the same
    # article's reading first wins, rather than failing this batch.
    insert_ignore(session, ArticleEntity.__table__, links)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    insert_ignore(
        session,
        EntityReading.__table__,  # type: ignore[arg-type]
        [
            {"article_id": row.id, "read_hash": row.read_hash, "model": model, "read_at": now}
            for row in batch
        ],
    )
    return new, len(links)


def _linked(item: Found, persons: dict[str, list[str]]) -> Found:
    """``item``, or the known person its lone surname stands for (named by its key until
    the stored name is read)."""
    if item.kind != Kind.PERSON:
        return item
    key = link(item.key, persons)
    if key == item.key:
        return item
    return Found(item.kind, key, key.title(), item.mentions, item.in_title)


def _chunks(items: Sequence[tuple[str, str]], size: int) -> list[Sequence[tuple[str, str]]]:
    return [items[start : start + size] for start in range(0, len(items), size)]

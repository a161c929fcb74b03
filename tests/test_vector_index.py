"""The one nearest-vector search (``vector_index.nearest``), on SQLite (a batched scan) and on
PostgreSQL (the HNSW index of the vectors' dimension): the same hits on both."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Engine, select

import pipeline.vector_index
from models import Story
from pipeline.db import session_scope
from pipeline.vector_index import Hit, nearest
from tests.factories import add_story, direction, mix


def hits(
    engine: Engine, wanted: np.ndarray, least: float | None = None, top: int | None = None
) -> list[tuple[int, float]]:
    """(key, similarity to four decimals) of each hit, in the order ``nearest`` gives."""
    query = select(Story.id, Story.centroid).where(Story.centroid.is_not(None))
    with session_scope(engine) as session:
        found: list[Hit] = nearest(session, query, wanted, candidates=20, least=least, top=top)
        return [(hit.row[0], round(hit.similarity, 4)) for hit in found]


@pytest.fixture
def stories(engine: Engine) -> dict[float, int]:
    """Stories at known cosines to ``direction(1)``, made in an order unlike their cosines."""
    a, b = direction(1), direction(2)
    return {
        cosine: add_story(engine, f"at {cosine}", centroid=mix(a, b, cosine))
        for cosine in (0.5, 0.95, 0.2, 0.85)
    }


def test_rows_at_least_as_close_as_asked_come_in_key_order(
    engine: Engine, stories: dict[float, int]
) -> None:
    found = hits(engine, direction(1), least=0.8)
    assert found == [(stories[0.95], 0.95), (stories[0.85], 0.85)]
    assert [key for key, _ in hits(engine, direction(1))] == sorted(stories.values())


def test_top_keeps_the_best_first_and_breaks_ties_to_the_lower_key(
    engine: Engine, stories: dict[float, int]
) -> None:
    twin = add_story(engine, "twin of 0.85", centroid=mix(direction(1), direction(2), 0.85))
    found = hits(engine, direction(1), top=3)
    assert found == [(stories[0.95], 0.95), (stories[0.85], 0.85), (twin, 0.85)]


def test_each_row_has_its_best_similarity_to_any_wanted_vector(
    engine: Engine, stories: dict[float, int]
) -> None:
    elsewhere = add_story(engine, "elsewhere", centroid=mix(direction(5), direction(6), 0.9))
    found = dict(hits(engine, np.stack([direction(1), direction(5)]), least=0.89))
    assert found == {stories[0.95]: 0.95, elsewhere: 0.9}


def test_vectors_of_another_dimension_are_never_compared(
    engine: Engine, stories: dict[float, int]
) -> None:
    wide = add_story(engine, "768", centroid=direction(1, 768))
    assert wide not in dict(hits(engine, direction(1)))
    assert hits(engine, direction(1, 768)) == [(wide, 1.0)]


def test_batches_and_chunks_change_nothing(
    engine: Engine, stories: dict[float, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's batches (SQLite) and the index search's read-back chunks (PostgreSQL)
    bound memory and bound lists; the hits are those of one pass."""
    whole = hits(engine, direction(1), least=0.1)
    best = hits(engine, direction(1), top=2)
    monkeypatch.setattr(pipeline.vector_index, "SCAN_BATCH", 1)
    monkeypatch.setattr(pipeline.vector_index, "READ_CHUNK", 1)
    assert hits(engine, direction(1), least=0.1) == whole
    assert hits(engine, direction(1), top=2) == best

"""Reading the state a cluster run plans from: the older stories and older lone articles near
the window, found through the one nearest-vector search (an HNSW index on PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, event, insert, text

from models import Story, StoryArticle
from pipeline.db import make_engine, migrate, session_scope
from pipeline.settings import Settings
from pipeline.stories.clustering.labels import NOISE
from pipeline.stories.knobs import MatchKnobs
from pipeline.stories.state import older_lonely, older_near
from pipeline.vector_index import ensure_vector_indexes
from tests.factories import T0, add_article, add_feeds, add_story, direction, near


def test_only_older_stories_near_a_cluster_are_loaded(engine: Engine) -> None:
    """Older live stories are found by centroid (pgvector's index on PostgreSQL, a batched
    scan on SQLite); far, recent, excluded and merged ones are not returned."""

    topic = direction(1)
    before = T0 - timedelta(days=3)
    with session_scope(engine) as session:

        def story(center: np.ndarray, last_seen: timedelta, status: str = "active") -> int:
            row = Story(
                title="s",
                article_count=2,
                source_count=1,
                original_count=2,
                first_seen=T0 - last_seen,
                last_seen=T0 - last_seen,
                model="m",
                status=status,
                created_at=T0,
                updated_at=T0,
                centroid=(center / np.linalg.norm(center)).astype(np.float32),
            )
            session.add(row)
            session.flush()
            return row.id

        near_old = story(near(topic, 2, spread=0.02), timedelta(days=200), "dormant")
        story(direction(3), timedelta(days=200))  # far
        story(near(topic, 4, spread=0.02), timedelta(days=1))  # recent: loaded elsewhere
        excluded = story(near(topic, 5, spread=0.02), timedelta(days=30))
        story(near(topic, 6, spread=0.02), timedelta(days=30), "merged")
        found = older_near(session, {0: topic.astype(np.float32)}, before, {excluded}, 0.8)
    assert [row[0] for row in found] == [near_old]
    assert np.allclose(np.linalg.norm(found[0][1]), 1.0, atol=1e-5)


# Models of other dimensions: the model is a setting, and the vectors follow it.


def record_vector_queries(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """The statements (and parameters) with pgvector's cosine distance the engine runs from
    now on, as they run."""
    asked: list[tuple[str, dict[str, Any]]] = []

    def record(
        _c: object, _cur: object, statement: str, parameters: dict[str, Any], *_: object
    ) -> None:
        if "<=>" in statement:
            asked.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    return asked


def explain(engine: Engine, statement: str, parameters: dict[str, Any]) -> str:
    """PostgreSQL's plan for a statement, as text."""
    with engine.connect() as conn:
        return "\n".join(conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars())


@pytest.mark.postgres
def test_older_stories_are_asked_of_the_index_of_their_dimension(pg_url: str) -> None:
    """The nearest-stories query of ``older_near`` is planned on the partial HNSW index of
    the centroids' dimension (with current statistics, as maintenance's ANALYZE leaves them)."""

    engine = make_engine(pg_url)
    try:
        migrate(engine)
        ensure_vector_indexes(engine, 768)
        rng = np.random.default_rng(0)
        long_ago = T0 - timedelta(days=200)
        rows = [
            {
                "title": "s",
                "status": "dormant",
                "keywords": [],
                "first_seen": long_ago,
                "last_seen": long_ago,
                "model": f"m{dim}",
                "created_at": T0,
                "updated_at": T0,
                "article_count": 2,
                "source_count": 1,
                "original_count": 2,
                "centroid": direction(int(rng.integers(2**31)), dim),
            }
            for dim in (384, 768)
            for _ in range(1000)
        ]
        with session_scope(engine) as session:
            session.execute(insert(Story), rows)
        with engine.begin() as conn:
            conn.execute(text("ANALYZE stories"))
        asked = record_vector_queries(engine)
        for dim in (384, 768):
            asked.clear()
            with session_scope(engine) as session:
                older_near(session, {0: direction(1, dim)}, T0, set(), 0.8)
            plan = explain(engine, *asked[0])
            assert f"Index Scan using ix_stories_centroid_hnsw_{dim} on stories" in plan
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_older_lone_articles_are_asked_of_the_index_of_article_vectors(pg_url: str) -> None:
    """``older_lonely`` asks the partial HNSW index of article vectors of the lone
    articles' dimension, and finds exactly the close older articles of the model that no
    story holds, published before the window."""

    engine = make_engine(pg_url)
    try:
        migrate(engine)
        feed = add_feeds(engine, ["Alpha"])["Alpha"]
        rng = np.random.default_rng(0)
        topic = direction(7)
        # Articles 1-4 are close to the first lone article: 1 is free, 2 is in a story,
        # 3 has the other model's vector only, 4 is published in the window.
        ids = [
            add_article(
                engine,
                feed,
                f"Article {i}",
                T0 + timedelta(hours=1) if i == 4 else T0 - timedelta(days=30),
                near(topic, i) if i <= 4 else direction(int(rng.integers(2**31))),
                model="other" if i == 3 else "m",
            )
            for i in range(1, 1201)
        ]
        story = add_story(engine, "s", centroid=topic)
        with session_scope(engine) as session:
            session.add(StoryArticle(article_id=ids[1], story_id=story, since=T0))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE embeddings"))
            conn.execute(text("ANALYZE articles"))
        asked = record_vector_queries(engine)
        lone = np.stack([near(topic, 50), direction(8)])
        with session_scope(engine) as session:
            found = older_lonely(
                session, np.array([NOISE, NOISE]), lone, T0, MatchKnobs.of(Settings(model_name="m"))
            )
        assert [article.id for article in found] == [ids[0]]
        assert found[0].text == "Article 1"
        assert len(asked) == 2  # one index query per lone article
        plan = explain(engine, *asked[0])
        assert "Index Scan using ix_embeddings_vector_hnsw_384 on embeddings" in plan
    finally:
        engine.dispose()

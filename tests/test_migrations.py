from __future__ import annotations

import uuid

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.engine import make_url

from models import Base, Embedding, Story, in_schema_of
from pipeline.db import (
    VERSION_TABLE,
    alembic_config,
    current_revision,
    make_engine,
    migrate,
    session_scope,
)
from pipeline.errors import DatabaseError
from pipeline.vector_index import ensure_vector_indexes
from tests.conftest import create_pg_database, drop_pg_database
from tests.factories import T0, add_article, add_feeds, add_story, direction


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "include_object": in_schema_of(conn.dialect.name),
            },
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrate_is_idempotent_and_uses_its_own_version_table(engine: Engine) -> None:
    before = current_revision(engine)
    assert migrate(engine) == before
    tables = set(inspect(engine).get_table_names())
    assert {
        "feeds",
        "articles",
        "embeddings",
        "stories",
        "story_articles",
        "cluster_runs",
    } <= tables
    # Airflow keeps its own `alembic_version`; sharing a database must not collide with it.
    assert VERSION_TABLE in tables
    assert "alembic_version" not in tables


def test_every_migration_downgrades_and_upgrades_again(engine: Engine) -> None:
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "feeds" not in inspect(engine).get_table_names()
    assert migrate(engine) == current_revision(engine)
    test_migrations_match_the_models(engine)


@pytest.mark.postgres
def test_init_as_a_role_that_may_not_create_the_extension_says_who_must(pg_admin: Engine) -> None:
    role = f"storyline_plain_{uuid.uuid4().hex[:8]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    url = create_pg_database(pg_admin)
    name = make_url(url).database
    with pg_admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" OWNER TO "{role}"'))
    plain = make_engine(make_url(url).set(username=role).render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseError) as refused:
            migrate(plain)
        assert str(refused.value).endswith(
            '(permission denied to create extension "vector"); the extension is installed '
            "on the server but this role may not create it: a superuser must run "
            "`CREATE EXTENSION vector;` in this database once, then rerun `storyline init`"
        )
        superuser = make_engine(url)
        with superuser.begin() as conn:
            conn.execute(text("CREATE EXTENSION vector"))
        superuser.dispose()
        assert migrate(plain) == current_revision(plain)  # the owner does the rest
    finally:
        plain.dispose()
        drop_pg_database(pg_admin, url)
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP ROLE "{role}"'))


def column_types(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT attrelid::regclass::text || '.' || attname, "
                "format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE (attrelid, attname) IN "
                "(('embeddings'::regclass, 'vector'), ('stories'::regclass, 'centroid'))"
            )
        ).all()
    return {name: kind for name, kind in rows}


def centroid_indexes(engine: Engine) -> list[str]:
    return vector_indexes(engine, "stories", "ix_stories_centroid_hnsw%")


def vector_indexes(engine: Engine, table: str, like: str) -> list[str]:
    with engine.connect() as conn:
        found = conn.scalars(
            text(
                "SELECT indexname FROM pg_indexes WHERE tablename = :table "
                "AND indexname LIKE :like ORDER BY indexname"
            ),
            {"table": table, "like": like},
        )
        return list(found)


def move_to(engine: Engine, revision: str, down: bool) -> None:
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.mark.postgres
def test_0009_round_trip_keeps_384_vectors_and_refuses_other_dimensions(pg_url: str) -> None:
    """Upgrade makes both columns dimensionless with a partial HNSW index per dimension;
    downgrade gives back vector(384) and 0005's index while every vector has 384 dimensions,
    and stops, changing nothing, once one has another."""
    engine = make_engine(pg_url)
    try:
        migrate(engine)
        head = current_revision(engine)
        feed = add_feeds(engine, ["Alpha"])["Alpha"]
        kept = direction(1)
        add_article(engine, feed, "a", T0, kept, model="small")
        story = add_story(engine, "s", centroid=kept)
        assert column_types(engine) == {
            "embeddings.vector": "vector",
            "stories.centroid": "vector",
        }
        assert centroid_indexes(engine) == ["ix_stories_centroid_hnsw_384"]
        ensure_vector_indexes(engine, 768)

        move_to(engine, "0008", down=True)
        assert column_types(engine) == {
            "embeddings.vector": "vector(384)",
            "stories.centroid": "vector(384)",
        }
        assert centroid_indexes(engine) == ["ix_stories_centroid_hnsw"]
        move_to(engine, "head", down=False)
        assert centroid_indexes(engine) == ["ix_stories_centroid_hnsw_384"]
        with session_scope(engine) as session:
            centroid = session.get_one(Story, story).centroid
            assert centroid is not None
            assert np.array_equal(centroid, kept)
            assert np.array_equal(session.scalars(select(Embedding.vector)).one(), kept)

        add_article(engine, feed, "b", T0, direction(2, 768), model="large")
        with pytest.raises(RuntimeError) as refused:
            move_to(engine, "0008", down=True)
        assert str(refused.value) == (
            "cannot downgrade below 0009: the columns would be vector(384) again, but the "
            "database holds vectors of other dimensions: 1 embeddings of 'large' (768-d); "
            "delete them first (DELETE FROM embeddings WHERE model = ...; its stories too) "
            "or stay on 0009"
        )
        # One transaction: the later revisions' downgrades are rolled back too.
        assert current_revision(engine) == head
        assert column_types(engine)["embeddings.vector"] == "vector"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_0010_indexes_article_vectors_per_dimension_and_downgrades(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        migrate(engine)
        article_indexes = ("embeddings", "ix_embeddings_vector_hnsw%")
        assert vector_indexes(engine, *article_indexes) == ["ix_embeddings_vector_hnsw_384"]
        ensure_vector_indexes(engine, 768)
        assert vector_indexes(engine, *article_indexes) == [
            "ix_embeddings_vector_hnsw_384",
            "ix_embeddings_vector_hnsw_768",
        ]
        move_to(engine, "0009", down=True)
        assert vector_indexes(engine, *article_indexes) == []
        assert current_revision(engine) == "0009"
        move_to(engine, "head", down=False)
        assert vector_indexes(engine, *article_indexes) == ["ix_embeddings_vector_hnsw_384"]
    finally:
        engine.dispose()

from __future__ import annotations

import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from models import Base, in_schema_of
from pipeline.db import VERSION_TABLE, alembic_config, current_revision, make_engine, migrate
from pipeline.errors import DatabaseError
from tests.conftest import create_pg_database, drop_pg_database


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

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from models import Base, in_schema_of
from pipeline.db import VERSION_TABLE, alembic_config, current_revision, migrate


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

"""Shared fixtures: a fresh database per test on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from pipeline.db import make_engine, migrate
from pipeline.settings import Settings

PG_ADMIN_URL = os.environ.get(
    "STORYLINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session", autouse=True)
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary model cache for the run, never the user's: the ONNX export is made once
    (on first use) and shared by every test, the CLI's subprocesses and, under pytest-xdist,
    every worker (their base folders share a parent; one exports, the others wait on its lock)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "model-cache"
    path.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STORYLINE_MODEL_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def create_pg_database(admin: Engine, prefix: str = "storyline_test") -> str:
    """Create an empty database; returns its URL. Drop it with ``drop_pg_database``."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin: Engine, url: str) -> None:
    name = make_url(url).database
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_demo(url: str) -> str:
    """``storyline demo`` into the database at ``url``; what it printed."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--db", url])
    assert result.exit_code == 0, result.output
    return result.stdout


@contextmanager
def demo_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[str]:
    """The URL of a database after one ``storyline demo`` (six outlets, five stories), on
    SQLite or PostgreSQL as ``request.param`` says; a PostgreSQL one is dropped after."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / 'storyline.db'}"
        run_demo(url)
        yield url
        return
    admin: Engine = request.getfixturevalue("pg_admin")
    url = create_pg_database(admin, prefix=f"storyline_{name}")
    try:
        run_demo(url)
        yield url
    finally:
        drop_pg_database(admin, url)


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    url = create_pg_database(pg_admin)
    try:
        yield url
    finally:
        drop_pg_database(pg_admin, url)


@pytest.fixture
def pg_schema_url(pg_admin: Engine) -> Iterator[str]:
    """The URL of a new PostgreSQL database with the schema, dropped after the test. The URL
    carries a password (trust authentication ignores it), so that a message or a response
    that showed it would be seen."""
    url = create_pg_database(pg_admin, prefix="storyline_schema")
    engine = make_engine(url)
    try:
        migrate(engine)
        engine.dispose()
        yield make_url(url).set(password="sekrit").render_as_string(hide_password=False)
    finally:
        engine.dispose()
        drop_pg_database(pg_admin, url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of an empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'storyline.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a migrated, empty database."""
    engine = make_engine(db_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings.load(database_url=db_url)

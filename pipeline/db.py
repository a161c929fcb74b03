"""Database edge: engines, sessions, migrations, and portable insert-or-ignore."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, String, create_engine, event, inspect, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.sql.schema import Table

from pipeline.errors import DatabaseError, first_line

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

VERSION_TABLE = "storyline_alembic_version"
SUPPORTED_DIALECTS = ("sqlite", "postgresql")
INSERT_CHUNK = 500
SQLITE_FOLD = "storyline_fold"
SQLITE_ANY_CONTAINS = "storyline_any_contains"
SEARCH_FOLD = "storyline_search_fold"
FINAL_SIGMA, SIGMA = "\u03c2", "\u03c3"


def display_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    """An engine for ``url``; a malformed URL is a one-sentence error."""
    try:
        normalised = normalise_url(url)
        engine = create_engine(
            normalised, pool_pre_ping=True, connect_args=connect_args(normalised)
        )
    except (ArgumentError, ImportError, ValueError) as exc:
        raise DatabaseError(
            f"cannot use database URL {display_url(url)!r} ({exc}); "
            "pass --db sqlite:///FILE or postgresql://USER@HOST:PORT/DBNAME"
        ) from exc
    if engine.dialect.name not in SUPPORTED_DIALECTS:
        raise DatabaseError(
            f"database {display_url(url)!r} is {engine.dialect.name}; "
            "Storyline supports SQLite and PostgreSQL URLs"
        )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


CONNECT_TIMEOUT_SECONDS = 10
"""How long a PostgreSQL connection may take to be answered: a server that accepts the
connection and stays silent (a failover, a dead NAT mapping) fails the command after this
instead of hanging it for ever."""
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
"""TCP keepalives on PostgreSQL connections: a peer gone without a word is noticed within
about a minute and a half (30 s idle, then probes 10 s apart, the system's count of them)."""


def connect_args(url: str) -> dict[str, object]:
    """libpq's connect timeout and keepalives for a PostgreSQL URL, unless the URL sets
    them itself (``?connect_timeout=30``); nothing for SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    wanted: dict[str, object] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **KEEPALIVES}
    return {key: value for key, value in wanted.items() if key not in parsed.query}


def fold(text: str) -> str:
    """Text as searches compare it: lower case for all of Unicode, final sigma as sigma
    (so "ΣΕΙΣΜΌΣ" and "σεισμός" meet). The same as ``folded`` computes in SQL."""
    return text.lower().replace(FINAL_SIGMA, SIGMA)


def search_fold(text: str) -> str:
    """Text as the outlet filter compares it: case folded (``ß`` as ``ss``, final sigma as
    sigma) and without accents. SQLite's ``storyline_search_fold``; PostgreSQL's, of the same
    name, is ``unaccent`` and ``lower`` (migration 0013), which also turns ``ł`` into ``l``
    and ``œ`` into ``oe``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


class folded(GenericFunction[str]):  # noqa: N801 (SQLAlchemy names functions so)
    """``fold`` in SQL, for all of Unicode on both backends: PostgreSQL's ``lower()``, which
    follows the database's character type (any UTF-8 locale folds all of Unicode), then
    final sigma to sigma; on SQLite, whose ``lower()`` folds ASCII only, Python's ``fold``,
    registered on every connection as ``storyline_fold``."""

    name = "lower"
    type = String()
    inherit_cache = True


@compiles(folded)
def _folded(element: folded, compiler: Any, **kw: Any) -> str:
    text = compiler.process(element.clauses, **kw)
    return f"translate(lower({text}), '{FINAL_SIGMA}', '{SIGMA}')"


@compiles(folded, "sqlite")
def _sqlite_folded(element: folded, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_FOLD}({compiler.process(element.clauses, **kw)})"


def _python_fold(value: object) -> object:
    return fold(value) if isinstance(value, str) else value


def any_element_contains(document: object, pattern: object) -> int:
    """1 when an element of the JSON list ``document`` contains ``pattern`` once folded.

    SQLite's ``storyline_any_contains``: one call per row instead of ``json_each`` and a
    fold per element (measured in ``bench.search``). ``pattern`` is folded already."""
    if not isinstance(document, str) or not isinstance(pattern, str):
        return 0
    try:
        elements = json.loads(document)
    except ValueError:
        return 0
    if not isinstance(elements, list):
        return 0
    return int(any(isinstance(e, str) and pattern in fold(e) for e in elements))


def _python_search_fold(value: object) -> object:
    return search_fold(value) if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function(SQLITE_FOLD, 1, _python_fold, deterministic=True)
    dbapi_connection.create_function(SEARCH_FOLD, 1, _python_search_fold, deterministic=True)
    dbapi_connection.create_function(
        SQLITE_ANY_CONTAINS, 2, any_element_contains, deterministic=True
    )
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def check_connection(engine: Engine) -> None:
    """Fail with one sentence if the server cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = first_line(exc)
        raise DatabaseError(
            f"cannot connect to database {display_url(str(engine.url))} ({reason}); "
            "check that the server is running and the URL (--db or STORYLINE_DATABASE_URL) is right"
        ) from exc


def alembic_config() -> AlembicConfig:
    """Alembic's configuration for the migrations shipped in ``sql/migrations``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("sql") / "migrations"))
    return config


def migrate(engine: Engine) -> str:
    """Create or upgrade the schema to the newest migration; returns the revision."""
    from alembic import command

    check_connection(engine)
    config = alembic_config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except (OperationalError, ProgrammingError) as exc:
        reason = first_line(exc)
        hint = _migrate_hint(reason)
        raise DatabaseError(
            f"cannot migrate database {display_url(str(engine.url))} ({reason}); {hint}"
        ) from exc
    return current_revision(engine) or "none"


def _migrate_hint(reason: str) -> str:
    """What to do when a migration failed with the driver's message ``reason``."""
    lowered = reason.lower()
    if "vector" in lowered and ("permission denied" in lowered or "superuser" in lowered):
        return (
            "the extension is installed on the server but this role may not create it: "
            "a superuser must run `CREATE EXTENSION vector;` in this database once, "
            "then rerun `storyline init`"
        )
    if "vector" in lowered:
        return "install pgvector on the server (scripts/install-pgvector.sh)"
    return "check the database user's rights"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def require_schema(engine: Engine) -> None:
    """Fail with one sentence unless ``storyline init`` has been run on this database."""
    path = engine.url.database
    if engine.dialect.name == "sqlite" and path and path != ":memory:" and not Path(path).exists():
        # Connecting would create an empty file; say what is wrong instead.
        raise DatabaseError(
            f"database file {path} does not exist; run `storyline init` first (or pass --db)"
        )
    check_connection(engine)
    revision = current_revision(engine)
    if revision is None:
        raise DatabaseError(
            f"database {display_url(str(engine.url))} has no Storyline schema; "
            "run `storyline init` first"
        )
    newest = head_revision()
    if revision not in known_revisions():
        raise DatabaseError(
            f"database {display_url(str(engine.url))} has schema revision {revision}, newer "
            f"than this Storyline's {newest}; run a Storyline as new as the one that wrote it"
        )
    if revision != newest:
        # An older schema lacks tables this code writes: say so before a query fails on one.
        raise DatabaseError(
            f"database {display_url(str(engine.url))} has schema revision {revision}, and this "
            f"Storyline needs {newest}; run `storyline init` to upgrade it (it keeps every row)"
        )


def known_revisions() -> set[str]:
    """Every migration shipped with this code."""
    from alembic.script import ScriptDirectory

    return {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }


def head_revision() -> str:
    """The newest migration shipped with this code."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "sql/migrations holds no migration"
    return head


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


def insert_or_ignore(session: Session, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the session's backend (SQLite or PostgreSQL)."""
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows, skipping any that collide with a unique constraint; returns rows inserted."""
    inserted = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = list(rows[start : start + INSERT_CHUNK])
        statement = insert_or_ignore(session, table).values(chunk)
        # Count what RETURNING gives back: rowcount is not reliable across drivers here.
        inserted += len(session.execute(statement.returning(*table.primary_key.columns)).all())
    return inserted

"""Database edge: engines, sessions, migrations, and portable insert-or-ignore."""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    String,
    bindparam,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.sql.schema import Table

from pipeline.errors import NOT_ANSWERING, DatabaseError, first_line
from pipeline.settings import (
    CONNECT_TIMEOUT_SECONDS,
    IDLE_IN_TRANSACTION_TIMEOUT_SECONDS,
    LOCK_TIMEOUT_SECONDS,
    STATEMENT_TIMEOUT_SECONDS,
)

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

    from pipeline.settings import Settings

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


def make_engine(
    url: str, timeouts: Timeouts | None = None, *, pool_timeout: float | None = None
) -> Engine:
    """An engine for ``url``; a malformed URL is a one-sentence error.

    On PostgreSQL every connection carries ``timeouts`` (``Timeouts()``, the settings'
    defaults, when not given; ``Timeouts.of(settings)`` for a command's). ``pool_timeout``
    bounds the wait for a pooled PostgreSQL connection (SQLAlchemy's 30 s when not given)."""
    try:
        normalised = normalise_url(url)
        # Only PostgreSQL's pool waits on a remote party; SQLite's in-memory pool takes none.
        remote = make_url(normalised).get_backend_name() == "postgresql"
        pool = {"pool_timeout": pool_timeout} if pool_timeout is not None and remote else {}
        engine = create_engine(
            normalised,
            pool_pre_ping=True,
            connect_args=connect_args(normalised, timeouts or Timeouts()),
            **pool,
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
    if engine.dialect.driver == "psycopg":
        _answer_within(engine, timeouts or Timeouts())
    return engine


def _answer_within(engine: Engine, timeouts: Timeouts) -> None:
    """Every connection of ``engine`` waits at most ``timeouts.answer_within()`` for the
    server's answer, and the pool's ping before lending one out at most the connect timeout:
    a server that takes longer to say it is there is not answering."""
    answer_within = timeouts.answer_within()
    ping_within = float(timeouts.connect_seconds)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = _answering_connection().connect(*cargs, **cparams)
        connection.answer_within = answer_within
        return connection

    ping = engine.dialect.do_ping

    def bounded_ping(dbapi_connection: Any) -> bool:
        saved = getattr(dbapi_connection, "answer_within", None)
        dbapi_connection.answer_within = ping_within
        try:
            return ping(dbapi_connection)
        finally:
            dbapi_connection.answer_within = saved

    engine.dialect.do_ping = bounded_ping  # type: ignore[method-assign]


KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
"""TCP keepalives on PostgreSQL connections: a peer gone without a word is noticed within
about a minute and a half (30 s idle, then probes 10 s apart, the system's count of them)."""
TCP_USER_TIMEOUT_MS = 60_000
"""libpq's ``tcp_user_timeout`` (Linux): data sent that the server's machine has not
acknowledged for a minute ends the connection, which keepalives (idle connections only) do
not cover: a server gone while a statement is on the wire."""
SERVER_TIMEOUTS = {
    "statement_timeout": "statement_seconds",
    "lock_timeout": "lock_seconds",
    "idle_in_transaction_session_timeout": "idle_in_transaction_seconds",
}
"""PostgreSQL's settings, each from its field of ``Timeouts``."""


ANSWER_GRACE_SECONDS = 5.0
"""How much longer than the statement timeout Storyline waits for any answer of the server
itself: one that has not cancelled the statement by then is not answering at all (stopped,
or its network path dead with the kernel still acknowledging)."""


@dataclass(frozen=True)
class Timeouts:
    """How long a PostgreSQL server may keep Storyline waiting; ``None`` leaves the server's
    own setting (no limit by default). Defaults as the settings' (``pipeline.settings``)."""

    connect_seconds: int = CONNECT_TIMEOUT_SECONDS
    statement_seconds: float | None = STATEMENT_TIMEOUT_SECONDS
    lock_seconds: float | None = LOCK_TIMEOUT_SECONDS
    idle_in_transaction_seconds: float | None = IDLE_IN_TRANSACTION_TIMEOUT_SECONDS

    @classmethod
    def of(cls, settings: Settings) -> Timeouts:
        """A command's timeouts, as the settings give them."""
        return cls(
            connect_seconds=settings.database_connect_timeout_seconds,
            statement_seconds=settings.database_statement_timeout_seconds,
            lock_seconds=settings.database_lock_timeout_seconds,
            idle_in_transaction_seconds=settings.database_idle_transaction_timeout_seconds,
        )

    def answer_within(self) -> float | None:
        """How long Storyline waits for the server's answer to anything it sends (a
        statement, a commit, a ping) before it drops the connection: ``None`` with no
        statement timeout."""
        if self.statement_seconds is None:
            return None
        return self.statement_seconds + ANSWER_GRACE_SECONDS

    @classmethod
    def for_api(cls, settings: Settings) -> Timeouts:
        """The API's: no statement or lock wait longer than a request may take
        (``api_timeout_seconds``), so the server drops a query nobody waits for any more."""
        command = cls.of(settings)
        limit = settings.api_timeout_seconds
        return replace(
            command,
            statement_seconds=min(command.statement_seconds or limit, limit),
            lock_seconds=min(command.lock_seconds or limit, limit),
        )


def connect_args(url: str, timeouts: Timeouts | None = None) -> dict[str, object]:
    """libpq's connect timeout, keepalives, TCP user timeout, and the server's statement,
    lock and idle-in-transaction timeouts (``options=-c ...``) for a PostgreSQL URL, unless
    the URL sets them itself (``?connect_timeout=30``,
    ``?options=-c%20statement_timeout%3D0``); nothing for SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    timeouts = timeouts or Timeouts()
    wanted: dict[str, object] = {
        "connect_timeout": timeouts.connect_seconds,
        **KEEPALIVES,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
    }
    args = {key: value for key, value in wanted.items() if key not in parsed.query}
    given = parsed.query.get("options", "")
    given = " ".join(given) if isinstance(given, tuple) else given
    options = [
        f"-c {name}={max(1, round(seconds * 1000))}"
        for name, field in SERVER_TIMEOUTS.items()
        if (seconds := getattr(timeouts, field)) is not None and name not in given
    ]
    if options:
        # connect_args win over the URL's query, so the URL's own options go along.
        args["options"] = " ".join([*options, given]).strip()
    return args


@contextmanager
def unbounded_statements(conn: Connection, *, locks: bool = False) -> Iterator[None]:
    """No statement timeout (nor lock timeout, with ``locks``) on PostgreSQL for the block,
    and no wait of Storyline's own for the server's answer: for work whose length grows with
    the database and which must finish to be of use (a migration, ``VACUUM``, building a
    vector index). Inside a transaction the server's settings end with it (``SET LOCAL``);
    on an autocommit connection they are reset at the end of the block."""
    if conn.dialect.name != "postgresql":
        yield
        return
    names = ["statement_timeout", *(["lock_timeout"] if locks else [])]
    local = conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT"
    for name in names:
        conn.execute(text(f"SET {'LOCAL ' if local else ''}{name} = 0"))
    raw = conn.connection.dbapi_connection
    answer_within = getattr(raw, "answer_within", None)
    if answer_within is not None:
        raw.answer_within = None  # type: ignore[union-attr]
    try:
        yield
    finally:
        if answer_within is not None:
            raw.answer_within = answer_within  # type: ignore[union-attr]
        if not local and not conn.closed and not conn.invalidated:
            for name in names:
                conn.execute(text(f"RESET {name}"))


@functools.cache
def _answering_connection() -> Any:
    """psycopg's connection class, waiting at most ``answer_within`` seconds for any answer
    of the server (``None``: for ever); the connection is closed when none came, and the
    error says so (``pipeline.errors.NOT_ANSWERING``). psycopg's own ``wait`` takes the
    deadline: a frozen server keeps acknowledging at the TCP level, so neither the server's
    timeouts nor keepalives nor ``tcp_user_timeout`` end that wait."""
    import psycopg
    from psycopg import errors

    class NotAnswering(psycopg.OperationalError):
        """The server gave no answer in time; the connection is closed."""

    class AnsweringConnection(psycopg.Connection):
        answer_within: float | None = None

        def wait(
            self, gen: Any, interval: float | None = None, timeout: float | None = None
        ) -> Any:
            ours = timeout is None and self.answer_within is not None
            limit = self.answer_within if ours else timeout
            try:
                if interval is None:
                    return super().wait(gen, timeout=limit)
                return super().wait(gen, interval, limit)
            except errors._WaitTimeout as exc:
                if not ours:
                    raise
                self.close()  # mid-protocol: the connection cannot be used again
                raise NotAnswering(f"{NOT_ANSWERING} {limit:g} s") from exc

    return AnsweringConnection


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


class among(ColumnElement[bool]):  # noqa: N801 (read as SQL: ``among(Article.id, ids)``)
    """``column IN values`` as one bound parameter, however many the values: PostgreSQL's
    wire protocol takes at most 65,535 parameters a statement (a window of more articles
    failed every cycle), and SQLite's default build 32,766. PostgreSQL: ``column =
    ANY(:array)``; SQLite: ``column IN (SELECT value FROM json_each(:json))``. The values
    are ints or strings."""

    inherit_cache = False  # the values are part of the construct, not of a cache key

    def __init__(
        self, column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[int | str]
    ) -> None:
        self.column: ColumnElement[Any] = (
            column.__clause_element__() if isinstance(column, QueryableAttribute) else column
        )
        self.values = list(values)


@compiles(among, "postgresql")
def _postgresql_among(element: among, compiler: Any, **kw: Any) -> str:
    array = bindparam(None, element.values, type_=postgresql.ARRAY(element.column.type))
    return f"{compiler.process(element.column, **kw)} = ANY({compiler.process(array, **kw)})"


@compiles(among)
def _json_among(element: among, compiler: Any, **kw: Any) -> str:
    values = bindparam(None, json.dumps(element.values), type_=String())
    return (
        f"{compiler.process(element.column, **kw)} IN "
        f"(SELECT value FROM json_each({compiler.process(values, **kw)}))"
    )


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
        # A migration rewrites tables that grow with the database: no statement timeout
        # (the lock timeout stays, so it never queues every reader behind it for long).
        with engine.begin() as conn, unbounded_statements(conn):
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
    if "lock timeout" in lowered:
        return (
            "another session holds a lock on its tables (a long query, a running command): "
            "rerun `storyline init` when it is done, or raise "
            "STORYLINE_DATABASE_LOCK_TIMEOUT_SECONDS"
        )
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

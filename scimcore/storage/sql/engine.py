"""Engines configured the way :class:`~scimcore.storage.sql.store.SqlStore` needs them.

SQLite: foreign keys on (memberships cascade on delete), WAL (readers do not block
the writer), a busy timeout (writers queue instead of failing), case-sensitive
``LIKE`` (``co``/``sw``/``ew`` on caseExact attributes must not fold ASCII case), and
the driver's own transaction handling replaced by explicit ``BEGIN`` statements so a
store session can take the write lock up front (``BEGIN IMMEDIATE``): SQLite has one
writer, and taking the lock late is what produces "database is locked" errors and
lost updates. An in-memory database uses a single shared connection (it is per
connection otherwise), which also makes it single-threaded.

PostgreSQL: a pooled connection idle for longer than :data:`PING_AFTER_IDLE_SECONDS`
is pinged before use, so connections broken by a database restart or an idle timeout
are replaced instead of failing a request (see :func:`_ping_when_idle`), and a short
connect timeout reports an unreachable database (``ServiceUnavailable``) instead of
hanging a worker.

Every store opens its transactions through :func:`transaction`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from ...errors import BadRequest, ServiceUnavailable, TransactionConflict

#: Milliseconds a SQLite writer waits for the lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option naming the ``BEGIN`` variant for a SQLite transaction.
SQLITE_BEGIN_OPTION = "scim_sqlite_begin"

_UNAVAILABLE = (
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.DisconnectionError,
    sa.exc.TimeoutError,
)
#: SQLite's OperationalError messages that mean the database cannot serve anyone now.
_SQLITE_OUTAGES = (
    "database is locked",
    "database table is locked",
    "unable to open",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
    "disk image is malformed",
    "file is not a database",
    "locking protocol",
    "out of memory",
    "interrupted",
)
#: SQLite's messages for a statement beyond one of its limits (a request too complex).
_SQLITE_LIMITS = ("too large", "too many", "too big", "stack overflow", "too complex")
#: PostgreSQL SQLSTATE classes that mean "not now" rather than "not this statement":
#: connection exception, transaction rollback (serialization failure, deadlock),
#: insufficient resources, object not in prerequisite state (lock not available),
#: operator intervention (shutdown, statement timeout), system error, internal error.
_POSTGRES_OUTAGES = ("08", "40", "53", "55", "57", "58", "XX")
#: PostgreSQL's deadlock_detected and serialization_failure: the transaction lost a
#: conflict with a concurrent one, and the same request run again succeeds.
_POSTGRES_CONFLICTS = ("40P01", "40001")
#: PostgreSQL's class for a statement beyond one of its limits.
_POSTGRES_LIMITS = "54"
#: One writer lock per SQLite engine (see :func:`transaction`).
_WRITERS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_WRITERS_GUARD = threading.Lock()


@contextmanager
def unavailable_as_503() -> Iterator[None]:
    """Errors meaning "the database cannot be reached" become ``ServiceUnavailable``.

    Only those: a ``503`` tells an IdP to retry, and it retries for hours. A statement
    beyond a limit of the database (an expression tree too deep, an index entry too
    large) fails the same way on every retry, so it is a ``400`` that says so; the
    request validation in :mod:`scimcore` bounds what reaches SQL, so this is the last
    line, not the rule. Mistakes in our SQL are raised as they are (a ``500``).
    """
    try:
        yield
    except _UNAVAILABLE as exc:
        kind = _classify(exc)
        if kind == "conflict":
            raise TransactionConflict() from exc
        if kind == "outage":
            raise ServiceUnavailable() from exc
        if kind == "limit":
            reason = _first_line(getattr(exc, "orig", None))
            raise BadRequest(
                f"The request is too large or complex for the database to run ({reason}); "
                "send a smaller one: fewer filter terms, shorter values."
            ) from exc
        raise


def _classify(exc: sa.exc.DBAPIError | sa.exc.SQLAlchemyError) -> str:
    """``outage``, ``conflict``, ``limit`` or ``bug`` for a driver error (see
    :func:`unavailable_as_503`)."""
    if not isinstance(exc, sa.exc.OperationalError) or exc.connection_invalidated:
        return "outage"
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        message = str(orig).lower()
        if any(text in message for text in _SQLITE_OUTAGES):
            return "outage"
        return "limit" if any(text in message for text in _SQLITE_LIMITS) else "bug"
    sqlstate = getattr(orig, "sqlstate", None)
    if not isinstance(sqlstate, str):
        return "outage"  # psycopg: no server answer at all (connection refused or lost)
    if sqlstate in _POSTGRES_CONFLICTS:
        return "conflict"
    if sqlstate.startswith(_POSTGRES_LIMITS):
        return "limit"
    return "outage" if sqlstate[:2] in _POSTGRES_OUTAGES else "bug"


def _first_line(error: Any) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else "no detail"


@contextmanager
def transaction(engine: Engine, *, write: bool = True) -> Iterator[Connection]:
    """One transaction on a pooled connection, committed when the block ends.

    On SQLite a writing transaction takes the database's write lock up front
    (``BEGIN IMMEDIATE``), and threads of this process take their turn on a lock
    first: SQLite's own wait for a busy database is a sleep of up to 100 ms between
    tries, which left a waiting writer asleep long after the lock was free (p99 of
    several hundred ms under four threads). Processes still meet at SQLite's lock.
    A reading transaction (``write=False``) is a plain ``BEGIN``: in WAL mode it reads
    a snapshot and neither waits for nor blocks the writer.
    """
    if engine.dialect.name != "sqlite" or not write:
        with unavailable_as_503(), engine.connect() as conn, conn.begin():
            yield conn
        return
    with _writer_lock(engine), unavailable_as_503(), engine.connect() as conn:
        conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn


@contextmanager
def single_read(engine: Engine) -> Iterator[Connection]:
    """A connection for one read statement, which needs no transaction of its own.

    It runs without ``BEGIN`` and ``COMMIT``/``ROLLBACK`` (the statement is its own
    transaction): the token lookup every request makes spent as long on those and
    their bookkeeping as on the lookup, and on PostgreSQL they are two more round
    trips to the server.
    """
    with unavailable_as_503(), engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "NONE"})
        else:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


class DriverRead:
    """One prebuilt read, compiled once for the engine's driver and run on a pooled
    DBAPI connection without SQLAlchemy's ``Connection`` around it.

    For the token lookup every request starts with: SQLAlchemy's connection and
    execution machinery cost several times the lookup itself, a noticeable part of a
    request (docs/performance.md, "Where the time goes"). The statement is the same prebuilt one
    (:mod:`.statements`), with the same parameters. It runs outside a transaction
    (PostgreSQL: autocommit), as :func:`single_read` does. A driver error while it runs
    (a connection broken by a restart) discards that connection and returns
    ``FAILED``: the caller then reads through :func:`single_read`, which replaces
    connections and reports an outage as SQLAlchemy does.
    """

    FAILED: Any = object()

    def __init__(
        self, engine: Engine, statement: sa.Select[Any], placeholders: dict[str, Any]
    ) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.engine = engine
        self.statement = statement
        self.columns = [column.key for column in statement.selected_columns]
        self.sql = str(compiled)
        self._fixed = compiled.construct_params(placeholders)
        self._order = list(compiled.positiontup or []) if compiled.positional else None
        self._autocommit = engine.dialect.name == "postgresql"

    def first(self, **values: Any) -> Any:
        """The first row (column key → the driver's value), None, or ``FAILED``."""
        merged = {**self._fixed, **values}
        params = tuple(merged[k] for k in self._order) if self._order is not None else merged
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        try:
            raw = self.engine.raw_connection()  # the pool's checkout (and idle ping)
        except dbapi_error as exc:  # a new connection could not be made
            with unavailable_as_503():  # the driver's error, as SQLAlchemy would wrap it
                raise sa.exc.DBAPIError.instance(None, None, exc, dbapi_error) from exc
        try:
            driver: Any = raw.driver_connection
            if self._autocommit:
                driver.autocommit = True
            cursor = raw.cursor()
            try:
                cursor.execute(self.sql, params)
                row = cursor.fetchone()
                return dict(zip(self.columns, row, strict=True)) if row is not None else None
            finally:
                cursor.close()
                if self._autocommit:
                    driver.autocommit = False
        except dbapi_error as exc:
            raw.invalidate(exc)
            return self.FAILED
        finally:
            raw.close()


def _writer_lock(engine: Engine) -> threading.RLock:
    with _WRITERS_GUARD:
        lock = _WRITERS.get(engine)
        if lock is None:
            lock = _WRITERS[engine] = threading.RLock()
        return lock


def scim_lower(value: object) -> object:
    """Python's ``str.lower`` for SQLite (registered as ``scim_lower``); NULL stays NULL."""
    return value.lower() if isinstance(value, str) else value


#: What to install for a backend whose driver is missing (the distribution's extras).
_DRIVER_EXTRAS = {"postgresql": "scimserver[postgresql]"}


class DatabaseDriverMissing(ImportError):
    """The database URL names a driver that is not installed.

    Raised before any connection is tried, with a one-line message naming what to
    install, so a command line can print it instead of an import traceback.
    """


def require_driver(url: str | URL) -> None:
    """Raise :class:`DatabaseDriverMissing` unless the driver of ``url`` can be imported.

    SQLAlchemy imports a dialect's driver module only when an engine is made;
    ``scimserver serve`` asks here first, before it starts the workers that would
    each fail on the same import.
    """
    u = make_url(url)
    try:
        u.get_dialect().import_dbapi()
    except ImportError as exc:
        backend = u.get_backend_name()
        extra = _DRIVER_EXTRAS.get(backend)
        if extra is not None:
            message = (
                f"the database URL needs the PostgreSQL driver ({u.get_driver_name()}), "
                f'which is not installed: pip install "{extra}"'
            )
        else:
            module = exc.name or u.get_driver_name()
            message = f"the database URL needs the driver module {module!r}, which is not installed"
        raise DatabaseDriverMissing(message, name=exc.name) from exc


def make_engine(url: str | URL, *, prepared_statements: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///path``, ``sqlite://`` or ``postgresql+psycopg://``).

    Statement parameters are never written into error messages or logs
    (``hide_parameters``): they hold token hashes and personal data.
    ``prepared_statements=False`` stops psycopg preparing statements on the server,
    which a pooler in transaction mode (PgBouncer) cannot follow between connections.
    Extra keyword arguments go to :func:`sqlalchemy.create_engine`.
    """
    u = make_url(url)
    kwargs.setdefault("hide_parameters", True)
    if u.get_backend_name() != "sqlite":  # sqlite3 is in the standard library
        require_driver(u)
    if u.get_backend_name() == "sqlite":
        return _sqlite_engine(u, **kwargs)
    if u.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": 5}
        if not prepared_statements:
            connect_args["prepare_threshold"] = None
        options: dict[str, Any] = {
            "pool_size": 10,
            "max_overflow": 20,
            "pool_recycle": 1800,
            "pool_timeout": 10,
            "connect_args": connect_args,
        }
        options.update(kwargs)
        engine = sa.create_engine(u, **options)
        if not options.get("pool_pre_ping"):
            _ping_when_idle(engine)
        return engine
    return sa.create_engine(u, **kwargs)


#: A pooled PostgreSQL connection unused for longer than this is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle a while.

    ``pool_pre_ping`` pings on every checkout: a round trip to PostgreSQL, paid twice
    per request (token lookup, then the request's transaction).
    Connections reused within a second were working a moment ago; a database restarted
    within that second fails one request (503) and, as a failed ping does, marks every
    older pooled connection for replacement. A failed ping replaces them all at once
    and the request goes on with a fresh connection.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception:  # the driver's error for a closed connection
            alive = False
        if not alive:
            raise sa.exc.InvalidatePoolError()


def _sqlite_engine(u: URL, **kwargs: Any) -> Engine:
    in_memory = u.database in (None, "", ":memory:") or "mode=memory" in str(u)
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        options["poolclass"] = StaticPool
    options.update(kwargs)
    engine = sa.create_engine(u, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite would defer it until the first write).
        dbapi_conn.isolation_level = None
        dbapi_conn.create_function("scim_lower", 1, scim_lower, deterministic=True)
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA case_sensitive_like = ON")
            if not in_memory:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode != "NONE":  # NONE: see single_read
            # Straight to the driver: through SQLAlchemy's execute this statement cost
            # ten times what it costs SQLite, on every transaction. Its errors are
            # wrapped as SQLAlchemy would (a locked database is an outage, a 503).
            begin = "BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN"
            try:
                conn.connection.dbapi_connection.execute(begin)  # type: ignore[union-attr]
            except sqlite3.OperationalError as exc:
                raise sa.exc.OperationalError(begin, None, exc) from exc

    return engine

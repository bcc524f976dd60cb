"""The SQL store's hot path: get, put, delete, compare_and_set and update on a DBAPI connection.

How it works: the hot statements are built once as SQLAlchemy constructs (in
``_sql_statements``, the one source of their SQL) and compiled here once per backend to
a positional SQL string with the order of its parameters (:class:`DirectStatement`).
Each thread then runs them on its own DBAPI connection (:class:`ThreadConnections`),
opened through the engine (so the engine's connect-time settings apply: WAL,
``synchronous``, ``busy_timeout``, server-side timeouts) and detached from its pool. The
connection is in autocommit mode: every statement is its own transaction, so a write is
one round trip on PostgreSQL and one implicit transaction on SQLite, atomic either way.
SQLAlchemy's execution context, bind processors and pool checkout are skipped on this
path; the few conversions they did are done here (:func:`sqlite_time`).

A connection belongs to the thread and the process that opened it, under a *token*: a
forked child never uses its parent's connection (nor closes it: it is kept, unused, so
that garbage collection does not close the parent's session), and a store file that was
replaced, or a closed backend, gets a new token so every thread reconnects.
:class:`DirectPath` runs one statement (``execute``) or one short explicit transaction
that locks a row first (``update``, which ``@watermark`` commits through), translating
the DBAPI's errors; on PostgreSQL the watchdog bounds each call.

What it does not do: pool (one connection per thread that uses the store, closed when
the thread ends or the backend closes), or anything but the statements compiled here:
every other operation goes through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.sql import ClauseElement

from store_client._errors import StoreBackendError, StoreConflictError
from store_client._sql_engine import open_direct_connection
from store_client._sql_errors import translate
from store_client._sql_watchdog import WATCHDOG

__all__ = ["DirectPath", "DirectStatement", "DirectStatements", "ThreadConnections",
           "compile_direct", "first_row", "no_result", "rows", "sqlite_time"]

T = TypeVar("T")

#: Connections a forked child inherited from its parent: kept so they are never closed.
_INHERITED: list[Any] = []


@dataclass(frozen=True, slots=True)
class DirectStatement:
    """One statement as positional SQL, and the names of its parameters in order."""

    sql: str
    names: tuple[str, ...]


def compile_direct(statement: ClauseElement, engine: Engine, names: tuple[str, ...],
                   column_keys: Sequence[str] | None = None) -> DirectStatement:
    """Compile ``statement`` for ``engine``'s database with positional parameters, which
    must come in the order ``names`` (callers pass tuples in that order)."""
    dialect: Any = engine.dialect
    if dialect.name == "postgresql":
        dialect = type(dialect)(paramstyle="format")  # psycopg's %s, in a known order
    compiled: Any = statement.compile(dialect=dialect,
                                      column_keys=list(column_keys or ()) or None)
    found = tuple(compiled.positiontup or ())
    if found != names:  # a SQLAlchemy that orders them otherwise: refuse, never mix up
        raise StoreBackendError(
            f"the store's statement takes its parameters as {found}, not {names}: this "
            "SQLAlchemy release is not supported")
    return DirectStatement(str(compiled), names)


def sqlite_time(moment: datetime | None) -> str | None:
    """An aware datetime as the SQL store keeps it on SQLite: naive UTC text with
    microseconds (the text SQLAlchemy's ``DateTime`` writes there)."""
    if moment is None:
        return None
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    return moment.isoformat(" ", "microseconds")[:26]  # cut "+00:00" (years are 4 digits)


class _Local(threading.local):
    connection: Any = None
    closer: Callable[[], None] | None = None
    token: object = None  # the ThreadConnections token the connection was opened under
    pid = 0  # the process that opened it


class ThreadConnections:
    """One autocommit DBAPI connection per thread, opened by ``opener``.

    ``opener`` returns ``(dbapi_connection, close)``: the connection, already set up by
    the engine, and how to close it for good. A connection is used only under the token
    it was opened with; :meth:`reset` and a fork replace the token.
    """

    def __init__(self, opener: Callable[[], tuple[Any, Callable[[], None]]]) -> None:
        self._open = opener
        self._local = _Local()
        self._token = object()
        self._lock = threading.Lock()
        self._closers: dict[int, Callable[[], None]] = {}

    def get(self) -> Any:
        """This thread's connection, opened now if it has none (or an outdated one)."""
        local = self._local
        if local.token is self._token:
            return local.connection
        self.discard()
        token = self._token
        connection, close = self._open()
        local.connection, local.closer, local.token, local.pid = (
            connection, close, token, os.getpid())
        with self._lock:
            self._closers[id(connection)] = close
        return connection

    def discard(self) -> None:
        """Drop this thread's connection (after an error, or when it is outdated)."""
        local = self._local
        connection, close = local.connection, local.closer
        local.connection, local.closer, local.token = None, None, None
        if connection is None:
            return
        if local.pid != os.getpid():
            _INHERITED.append(connection)  # the parent's: never ours to close
            return
        with self._lock:
            self._closers.pop(id(connection), None)
        if close is not None:
            _quietly(close)

    def reset(self) -> None:
        """Make every thread reconnect before its next statement; close what we can."""
        with self._lock:
            self._token = object()
            closers, self._closers = list(self._closers.values()), {}
        self._local.connection, self._local.token = None, None
        for close in closers:
            _quietly(close)

    def after_fork_in_child(self) -> None:
        """A fresh lock and token; the parent's connections are left alone (``discard``)."""
        self._lock = threading.Lock()
        self._closers = {}
        self._token = object()


def _quietly(close: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # a connection that cannot close is gone already
        close()


# The order of each statement's parameters: the tuples callers pass (checked at compile).
TASK_ROW = ("d", "r", "t", "m", "k", "now")
TASK_WRITE = ("dag_id", "run_id", "task_id", "map_index", "key", "value", "updated_at",
              "expires_at")
TASK_CAS = ("new", "now", "new_expires_at", "d", "r", "t", "m", "k", "expected", "now")
ASSET_ROW = ("a", "k")
ASSET_WRITE = ("asset", "key", "value", "updated_at")
ASSET_CAS = ("new", "now", "a", "k", "expected")


@dataclass(frozen=True, slots=True)
class DirectStatements:
    """The hot statements of ``_sql_statements.Statements``, compiled for one engine."""

    task_get: DirectStatement
    task_upsert: DirectStatement
    task_insert_new: DirectStatement
    task_cas_update: DirectStatement
    asset_get: DirectStatement
    asset_upsert: DirectStatement
    asset_insert_new: DirectStatement
    asset_cas_update: DirectStatement
    task_lock_read: DirectStatement
    asset_lock_read: DirectStatement
    task_delete: DirectStatement
    asset_delete: DirectStatement

    @classmethod
    def compile(cls, sql: Any, engine: Engine) -> DirectStatements:
        """Compile the statements of ``sql`` (a ``Statements``) for ``engine``."""
        def insert(statement: Any, columns: tuple[str, ...]) -> DirectStatement:
            # inline(): no implicit RETURNING of the primary key
            return compile_direct(statement.inline(), engine, columns, columns)

        def plain(statement: Any, names: tuple[str, ...]) -> DirectStatement:
            return compile_direct(statement, engine, names)

        return cls(
            task_get=plain(sql.task_get, TASK_ROW),
            task_upsert=insert(sql.task_upsert, TASK_WRITE),
            task_insert_new=insert(sql.task_insert_new, TASK_WRITE),
            task_cas_update=plain(sql.task_cas_update, TASK_CAS),
            asset_get=plain(sql.asset_get, ASSET_ROW),
            asset_upsert=insert(sql.asset_upsert, ASSET_WRITE),
            asset_insert_new=insert(sql.asset_insert_new, ASSET_WRITE),
            asset_cas_update=plain(sql.asset_cas_update, ASSET_CAS),
            task_lock_read=plain(sql.task_lock_read, TASK_ROW),
            asset_lock_read=plain(sql.asset_lock_read, ASSET_ROW),
            task_delete=plain(sql.task_delete, TASK_ROW[:-1]),
            asset_delete=plain(sql.asset_delete, ASSET_ROW),
        )


def first_row(cursor: Any) -> Any:
    """The first row of a result, or None."""
    return cursor.fetchone()


def rows(cursor: Any) -> list[Any]:
    """Every row of a result (on SQLite this also steps a write to its end)."""
    return list(cursor.fetchall())


def no_result(_cursor: Any) -> None:
    """For statements that return no rows."""
    return None


#: How often a locked update starts again because another writer created the row
#: between our read (no row, so nothing to lock) and our insert. Only PostgreSQL can
#: race so; each round waits on the other writer's lock, so this is never reached
#: unless rows keep appearing and vanishing.
_UPDATE_ROUNDS = 5


class DirectPath:
    """Hot statements and locked updates on this thread's DBAPI connection, translated.

    ``execute`` runs one statement (autocommit). ``update`` takes the row's lock
    first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL),
    computes the new value from the current one, and writes it in the same
    transaction, so concurrent updates of one key queue rather than fail and retry.
    On PostgreSQL the watchdog bounds each call. A connection that failed is dropped,
    so a retry opens a new one. DBAPI errors become the store client's (``translate``).
    """

    def __init__(self, engine: Engine, sql: Any, where: str, deadline: float) -> None:
        self.statements = DirectStatements.compile(sql, engine)
        self.connections = ThreadConnections(lambda: open_direct_connection(engine))
        postgres = engine.dialect.name == "postgresql"
        self.time: Callable[[datetime | None], Any] = _same if postgres else sqlite_time
        self._begin = "BEGIN" if postgres else "BEGIN IMMEDIATE"  # SQLite: lock first
        self._where, self._deadline = where, deadline
        dbapi = engine.dialect.loaded_dbapi
        self._error: type[Exception] = dbapi.Error
        self._transient: tuple[type[Exception], ...] = (dbapi.OperationalError,
                                                        dbapi.InterfaceError)

    def execute(self, statement: DirectStatement, params: tuple[Any, ...],
                fetch: Callable[[Any], T]) -> T:
        """Run one statement in its own transaction and ``fetch`` its result; ``params``
        in the order of ``statement.names``."""
        return self._guarded(lambda connection: fetch(connection.execute(statement.sql, params)))

    def update(self, lock_read: DirectStatement, read_params: tuple[Any, ...],
               insert_new: DirectStatement, upsert: DirectStatement,
               write_params: Callable[[str], tuple[Any, ...]],
               change: Callable[[str | None], str | None]) -> str | None:
        """Replace the live value ``current`` with ``change(current)`` under the row's
        lock; ``change`` returning None (or ``current``) writes nothing. Returns the
        value stored at the end. ``write_params(new)`` gives the parameters of
        ``insert_new`` and ``upsert``. ``change`` may run again if the call is retried:
        it must be pure."""
        def locked(connection: Any) -> str | None:
            for _ in range(_UPDATE_ROUNDS):
                connection.execute(self._begin)
                try:
                    found = connection.execute(lock_read.sql, read_params).fetchone()
                    current = None if found is None else found[0]
                    new = change(current)
                    if new is None or new == current:
                        connection.execute("COMMIT")
                        return current
                    params = write_params(new)
                    if found is not None:
                        connection.execute(upsert.sql, params)
                    elif not connection.execute(insert_new.sql, params).fetchall():
                        connection.execute("ROLLBACK")  # created meanwhile: lock it, again
                        continue
                    connection.execute("COMMIT")
                    return new
                except BaseException:
                    with contextlib.suppress(Exception):
                        connection.execute("ROLLBACK")
                    raise
            raise StoreConflictError(
                f"store {self._where}: the row was created and removed under each of "
                f"{_UPDATE_ROUNDS} locked updates; nothing was written")

        return self._guarded(locked)

    def _guarded(self, work: Callable[[Any], T]) -> T:
        """``work(connection)`` on this thread's connection, watched on PostgreSQL, its
        errors translated (a connection that failed is dropped)."""
        try:
            connection = self.connections.get()
            if not self._deadline:
                return work(connection)
            ticket = WATCHDOG.arm(connection.fileno(), self._deadline)
            try:
                return work(connection)
            finally:
                WATCHDOG.disarm(ticket)
        except self._error as exc:
            transient = isinstance(exc, self._transient)
            if transient:
                self.connections.discard()
            raise translate(exc, self._where, transient) from exc


def _same(moment: datetime | None) -> datetime | None:
    return moment

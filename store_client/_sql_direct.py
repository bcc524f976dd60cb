"""The SQL store's hot path: get, put and compare_and_set straight on a DBAPI connection.

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

A connection belongs to the thread and the process that opened it and to the backend's
*generation*: a forked child never uses its parent's connection (nor closes it: it is
kept, unused, so that garbage collection does not close the parent's session), and a
store file that was replaced bumps the generation so every thread reconnects.
:meth:`ThreadConnections.explicit` hands out the same connection for a short explicit
transaction (the watermark's locked update).

What it does not do: pool (one connection per thread that uses the store, closed when
the thread ends or the backend closes), or anything but the statements compiled here:
every other operation goes through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.sql import ClauseElement

from store_client._errors import StoreConflictError
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
    """One statement as positional SQL, and how to pick its parameters from a dict."""

    sql: str
    pick: Callable[[dict[str, Any]], tuple[Any, ...]]


def compile_direct(statement: ClauseElement, engine: Engine,
                   column_keys: Sequence[str] | None = None) -> DirectStatement:
    """Compile ``statement`` for ``engine``'s database with positional parameters."""
    dialect: Any = engine.dialect
    if dialect.name == "postgresql":
        dialect = type(dialect)(paramstyle="format")  # psycopg's %s, in a known order
    compiled: Any = statement.compile(dialect=dialect,
                                      column_keys=list(column_keys or ()) or None)
    names = tuple(compiled.positiontup or ())
    if len(names) == 1:
        only = names[0]
        return DirectStatement(str(compiled), lambda params: (params[only],))
    return DirectStatement(str(compiled), itemgetter(*names))


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
    owner: tuple[int, int] = (0, 0)  # (pid, generation) the connection was opened for


class ThreadConnections:
    """One autocommit DBAPI connection per thread, opened by ``opener``.

    ``opener`` returns ``(dbapi_connection, close)``: the connection, already set up by
    the engine, and how to close it for good.
    """

    def __init__(self, opener: Callable[[], tuple[Any, Callable[[], None]]]) -> None:
        self._open = opener
        self._local = _Local()
        self._generation = 0
        self._lock = threading.Lock()
        self._closers: dict[int, Callable[[], None]] = {}

    def get(self) -> Any:
        """This thread's connection, opened now if it has none (or an outdated one)."""
        local = self._local
        if local.owner == (os.getpid(), self._generation) and local.connection is not None:
            return local.connection
        self.discard()
        connection, close = self._open()
        local.connection, local.closer = connection, close
        local.owner = (os.getpid(), self._generation)
        with self._lock:
            self._closers[id(connection)] = close
        return connection

    def discard(self) -> None:
        """Drop this thread's connection (after an error, or when it is outdated)."""
        local = self._local
        connection, close = local.connection, local.closer
        local.connection, local.closer = None, None
        if connection is None:
            return
        if local.owner[0] != os.getpid():
            _INHERITED.append(connection)  # the parent's: never ours to close
            return
        with self._lock:
            self._closers.pop(id(connection), None)
        if close is not None:
            _quietly(close)

    def reset(self) -> None:
        """Make every thread reconnect before its next statement; close what we can."""
        with self._lock:
            self._generation += 1
            closers, self._closers = list(self._closers.values()), {}
        self._local.connection = None
        for close in closers:
            _quietly(close)

    def after_fork_in_child(self) -> None:
        """A fresh lock; the parent's connections are left alone (see ``discard``)."""
        self._lock = threading.Lock()
        self._closers = {}


def _quietly(close: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # a connection that cannot close is gone already
        close()


_TASK_COLUMNS = ("dag_id", "run_id", "task_id", "map_index", "key", "value", "updated_at",
                 "expires_at")
_ASSET_COLUMNS = ("asset", "key", "value", "updated_at")


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

    @classmethod
    def compile(cls, sql: Any, engine: Engine) -> DirectStatements:
        """Compile the statements of ``sql`` (a ``Statements``) for ``engine``."""
        def insert(statement: Any, columns: tuple[str, ...]) -> DirectStatement:
            # inline(): no implicit RETURNING of the primary key
            return compile_direct(statement.inline(), engine, columns)

        return cls(
            task_get=compile_direct(sql.task_get, engine),
            task_upsert=insert(sql.task_upsert, _TASK_COLUMNS),
            task_insert_new=insert(sql.task_insert_new, _TASK_COLUMNS),
            task_cas_update=compile_direct(sql.task_cas_update, engine),
            asset_get=compile_direct(sql.asset_get, engine),
            asset_upsert=insert(sql.asset_upsert, _ASSET_COLUMNS),
            asset_insert_new=insert(sql.asset_insert_new, _ASSET_COLUMNS),
            asset_cas_update=compile_direct(sql.asset_cas_update, engine),
            task_lock_read=compile_direct(sql.task_lock_read, engine),
            asset_lock_read=compile_direct(sql.asset_lock_read, engine),
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

    def execute(self, statement: DirectStatement, params: dict[str, Any],
                fetch: Callable[[Any], T]) -> T:
        """Run one statement in its own transaction and ``fetch`` its result."""
        with self._guarded() as connection:
            return fetch(connection.execute(statement.sql, statement.pick(params)))

    def update(self, lock_read: DirectStatement, insert_new: DirectStatement,
               upsert: DirectStatement, params: dict[str, Any],
               change: Callable[[str | None], str | None]) -> str | None:
        """Replace the live value ``current`` with ``change(current)`` under the row's
        lock; ``change`` returning None (or ``current``) writes nothing. Returns the
        value stored at the end. ``params`` serve all three statements (``value`` is set
        here). ``change`` may run again if the call is retried: it must be pure."""
        with self._guarded() as connection:
            for _ in range(_UPDATE_ROUNDS):
                connection.execute(self._begin)
                try:
                    found = connection.execute(lock_read.sql, lock_read.pick(params)).fetchone()
                    current = None if found is None else found[0]
                    new = change(current)
                    if new is None or new == current:
                        connection.execute("COMMIT")
                        return current
                    params["value"] = new
                    if found is not None:
                        connection.execute(upsert.sql, upsert.pick(params))
                    elif not connection.execute(insert_new.sql,
                                                insert_new.pick(params)).fetchall():
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

    @contextlib.contextmanager
    def _guarded(self) -> Iterator[Any]:
        """This thread's connection, watched on PostgreSQL, its errors translated."""
        try:
            connection = self.connections.get()
            if not self._deadline:
                yield connection
                return
            ticket = WATCHDOG.arm(connection.fileno(), self._deadline)
            try:
                yield connection
            finally:
                WATCHDOG.disarm(ticket)
        except self._error as exc:
            transient = isinstance(exc, self._transient)
            if transient:
                self.connections.discard()
            raise translate(exc, self._where, transient) from exc


def _same(moment: datetime | None) -> datetime | None:
    return moment

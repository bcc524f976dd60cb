"""The SQL backend: SQLite (the embedded default) and PostgreSQL.

How it works: every operation is one short transaction of one prepared statement
(``put`` is an ``INSERT ... ON CONFLICT DO UPDATE``), so a crash leaves either the old
row or the new one. ``compare_and_set`` is one conditional statement (``UPDATE ... WHERE
value = :expected``, or ``INSERT ... ON CONFLICT DO NOTHING`` when ``expected`` is
absent), atomic across processes on both databases; ``update`` takes the row's lock
first and writes in the same transaction. The hot operations (get, put, delete,
compare_and_set, update) run on a per-thread DBAPI connection (``_sql_direct``); the
rest go through SQLAlchemy Core on a pooled ``Engine``. Tables are created on first use
(see ``_sql_schema``). SQLite runs in WAL mode with ``synchronous=NORMAL``: a killed
process never loses a committed write; a power loss may lose the last few. A SQLite
file deleted or replaced under the client is noticed before and after every write (the
write is made again on the new file) and within ``READ_RECHECK_S`` by reads. Errors are
translated here (``_sql_errors``): connection failures, timeouts and "database is
locked" become :class:`StoreUnavailableError` and are retried under the
:class:`RetryPolicy` (the first attempt outside tenacity); anything else becomes
:class:`StoreBackendError` at once.

What it does not do: pool tuning beyond SQLAlchemy's defaults, or other databases.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import ColumnElement, and_, any_, func, select
from sqlalchemy import exc as sa_exc

from store_client._backend import (
    Change,
    CleanupReport,
    CleanupRow,
    Scope,
    ScopeSummary,
    StoreBackend,
    TaskEntry,
)
from store_client._config import StoreSettings
from store_client._errors import StoreUnavailableError
from store_client._retry import DEFAULT_RETRY, RetryPolicy
from store_client._scopes import AssetScope, TaskScope
from store_client._sql_direct import DirectPath, DirectStatement, first_row, no_result, rows
from store_client._sql_engine import (
    create_private_file,
    create_store_engine,
    statement_deadline,
)
from store_client._sql_errors import sa_transient, translate
from store_client._sql_schema import asset_state, ensure_schema, task_state
from store_client._sql_statements import Statements, live, scan_query, task_match

__all__ = ["SqlBackend"]

P = ParamSpec("P")
T = TypeVar("T")
_t, _a = task_state.c, asset_state.c
_log = logging.getLogger("store_client")
_BACKENDS: weakref.WeakSet[SqlBackend] = weakref.WeakSet()
#: How long a read trusts the last check that the store file is still the one opened
#: (writes always check, before and after). A file replaced under a reader is noticed
#: within this time: until then reads answer from the file as it was.
READ_RECHECK_S = 0.1


def _after_fork_in_child() -> None:
    for backend in list(_BACKENDS):
        backend._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SqlBackend(StoreBackend):
    """A :class:`StoreBackend` on SQLite or PostgreSQL; safe across threads and processes."""

    def __init__(self, settings: StoreSettings | str, *,
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        if isinstance(settings, str):
            settings = StoreSettings(url=settings)
        self.settings = settings
        self.engine, self._file = create_store_engine(settings)
        _BACKENDS.add(self)
        self.retry = retry
        self._where = self.engine.url.render_as_string(hide_password=True)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._sql = Statements.for_dialect(self.engine.dialect.name)
        # Reads need no transaction: autocommit saves PostgreSQL a BEGIN and a ROLLBACK.
        postgres = self.engine.dialect.name == "postgresql"
        self._reader = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                        if postgres else self.engine)
        # The hot path: get, put, delete, compare_and_set and update on a DBAPI connection.
        self._path = DirectPath(self.engine, self._sql, self._where,
                                statement_deadline(settings) if postgres else 0.0)
        self._direct, self._time = self._path.statements, self._path.time

    # -- plumbing -------------------------------------------------------------------

    def _run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one write with schema creation, error translation and retries."""
        return self.retry.call(self._attempt, fn, *args, **kwargs)

    def _read(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one read as :meth:`_run` runs a write, with the file checked at most every
        ``READ_RECHECK_S`` and not after the call (a file replaced during a read only
        means the read saw the old file)."""
        return self.retry.call(self._read_attempt, fn, *args, **kwargs)

    def _attempt(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            self._ready(0.0)
            result = fn(*args, **kwargs)
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, self._where, sa_transient(exc)) from exc
        if self._file is not None and self._file.changed():
            # The file was deleted or replaced while we wrote to it: what we wrote is
            # gone with it. Do it again on the new file (retried as an outage).
            raise StoreUnavailableError(
                f"store file {str(self._file.path)!r} was deleted or replaced during the "
                "call; writing it again")
        return result

    def _read_attempt(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            self._ready(READ_RECHECK_S)
            return fn(*args, **kwargs)
        except sa_exc.SQLAlchemyError as exc:
            raise translate(exc, self._where, sa_transient(exc)) from exc

    def _ready(self, within: float) -> None:
        """Reopen a store file deleted or replaced since it was checked (``within``
        seconds ago at most), and create the schema on first use."""
        if self._file is not None and self._file.changed(within=within):
            self._reopen()
        if not self._schema_ready:
            with self._schema_lock:
                if not self._schema_ready:
                    ensure_schema(self.engine, create=self.settings.create)
                    self._schema_ready = True

    def _reopen(self) -> None:
        """The store file was deleted or replaced: drop our connections to the old one and
        start again on the path (a new, empty store if it was deleted)."""
        assert self._file is not None
        _log.warning("store file %s was deleted or replaced under this client; reopening",
                     self._file.path)
        self.engine.dispose()
        self._path.connections.reset()
        self._file.seen = None
        self._schema_ready = False
        create_private_file(self._file.path, self.settings.create)

    def _after_fork_in_child(self) -> None:
        """Fresh locks (another thread of the parent may have held them)."""
        self._schema_lock = threading.Lock()
        self._path.connections.after_fork_in_child()

    # -- operations -----------------------------------------------------------------

    def get(self, scope: Scope, key: str, *, now: datetime) -> str | None:
        params: tuple[Any, ...]
        if isinstance(scope, TaskScope):
            statement, params = self._direct.task_get, (  # TASK_ROW
                scope.dag_id, scope.run_id, scope.task_id, scope.map_index, key,
                self._time(now))
        else:
            statement, params = self._direct.asset_get, (scope.identity, key)  # ASSET_ROW
        row = self.retry.call(self._read_attempt, self._path.execute, statement, params,
                              first_row)
        return None if row is None else row[0]

    def put(self, scope: Scope, key: str, value: str, *, expires_at: datetime | None,
            now: datetime) -> None:
        if isinstance(scope, TaskScope):
            statement, params = self._direct.task_upsert, self._task_write(
                scope, key, value, now, expires_at)
        else:
            statement, params = self._direct.asset_upsert, (  # ASSET_WRITE
                scope.identity, key, value, self._time(now))
        self._run(self._path.execute, statement, params, no_result)

    def _task_write(self, scope: TaskScope, key: str, value: str, now: datetime,
                    expires_at: datetime | None) -> tuple[Any, ...]:
        """The parameters of a task row's insert or upsert (``TASK_WRITE``)."""
        return (scope.dag_id, scope.run_id, scope.task_id, scope.map_index, key, value,
                self._time(now), self._time(expires_at))

    def delete(self, scope: Scope, key: str) -> None:
        params: tuple[Any, ...]
        if isinstance(scope, TaskScope):
            statement, params = self._direct.task_delete, (
                scope.dag_id, scope.run_id, scope.task_id, scope.map_index, key)
        else:
            statement, params = self._direct.asset_delete, (scope.identity, key)
        self._run(self._path.execute, statement, params, no_result)

    def clear(self, scope: Scope, *, all_map_indices: bool = False) -> None:
        self._run(self._clear, scope, all_map_indices)

    def _clear(self, scope: Scope, all_map_indices: bool) -> None:
        with self.engine.begin() as conn:
            if isinstance(scope, TaskScope):
                conn.execute(task_state.delete().where(
                    task_match(scope, all_map_indices=all_map_indices)))
            else:
                conn.execute(asset_state.delete().where(_a.asset == scope.identity))

    def items(self, scope: Scope, *, now: datetime) -> dict[str, str]:
        return self._read(self._items, scope, now)

    def _items(self, scope: Scope, now: datetime) -> dict[str, str]:
        if isinstance(scope, TaskScope):
            query = select(_t.key, _t.value).where(task_match(scope), live(now))
        else:
            query = select(_a.key, _a.value).where(_a.asset == scope.identity)
        with self._reader.connect() as conn:
            return {key: value for key, value in conn.execute(query)}

    def compare_and_set(self, scope: Scope, key: str, expected: str | None, new: str,
                        *, now: datetime, expires_at: datetime | None = None) -> bool:
        direct, time = self._direct, self._time
        statement: DirectStatement
        if isinstance(scope, TaskScope):
            if expected is None:
                statement, params = direct.task_insert_new, self._task_write(
                    scope, key, new, now, expires_at)
            else:
                at = time(now)
                statement, params = direct.task_cas_update, (  # TASK_CAS
                    new, at, time(expires_at), scope.dag_id, scope.run_id, scope.task_id,
                    scope.map_index, key, expected, at)
        elif expected is None:
            statement, params = direct.asset_insert_new, (  # ASSET_WRITE
                scope.identity, key, new, time(now))
        else:
            statement, params = direct.asset_cas_update, (  # ASSET_CAS
                new, time(now), scope.identity, key, expected)
        # RETURNING, not rowcount: psycopg reports -1 for INSERT ... ON CONFLICT here.
        return bool(self._run(self._path.execute, statement, params, rows))

    def update(self, scope: Scope, key: str, change: Change, *, now: datetime,
               expires_at: datetime | None = None) -> str | None:
        direct, at = self._direct, self._time(now)
        if isinstance(scope, TaskScope):
            read = (scope.dag_id, scope.run_id, scope.task_id, scope.map_index, key, at)
            return self._run(self._path.update, direct.task_lock_read, read,
                             direct.task_insert_new, direct.task_upsert,
                             lambda new: self._task_write(scope, key, new, now, expires_at),
                             change)
        return self._run(self._path.update, direct.asset_lock_read, (scope.identity, key),
                         direct.asset_insert_new, direct.asset_upsert,
                         lambda new: (scope.identity, key, new, at), change)

    def scan_tasks(self, key_prefix: str, *, now: datetime,
                   pair: bool = False) -> list[TaskEntry]:
        query = scan_query(key_prefix, now, pair=pair,
                           postgres=self.engine.dialect.name == "postgresql")
        return self._read(self._scan_tasks, query, key_prefix)

    def _scan_tasks(self, query: Any, key_prefix: str) -> list[TaskEntry]:
        with self._reader.connect() as conn:
            # The range is the prefix's; the exact test is made here too, to be sure.
            return [TaskEntry(TaskScope(d, r, t, m), k, v, u, p)
                    for d, r, t, m, k, v, u, p in conn.execute(query)
                    if k.startswith(key_prefix)]

    def scopes(self, *, now: datetime) -> list[ScopeSummary]:
        return self._read(self._scopes, now)

    def _scopes(self, now: datetime) -> list[ScopeSummary]:
        """Two grouped queries: task scopes with live keys, then assets."""
        tasks = (select(_t.dag_id, _t.run_id, _t.task_id, _t.map_index, func.count(),
                        func.max(_t.updated_at))
                 .where(live(now))
                 .group_by(_t.dag_id, _t.run_id, _t.task_id, _t.map_index)
                 .order_by(_t.dag_id, _t.run_id, _t.task_id, _t.map_index))
        assets = (select(_a.asset, func.count(), func.max(_a.updated_at))
                  .group_by(_a.asset).order_by(_a.asset))
        with self._reader.connect() as conn:
            found = [ScopeSummary(TaskScope(d, r, t, m), n, u)
                     for d, r, t, m, n, u in conn.execute(tasks)]
            found += [ScopeSummary(AssetScope(name=a), n, u)
                      for a, n, u in conn.execute(assets)]
        return found

    def cleanup(self, *, now: datetime, dry_run: bool = False,
                batch_size: int = 0) -> CleanupReport:
        expired = and_(_t.expires_at.is_not(None), _t.expires_at <= now)
        if dry_run:
            query = select(_t.dag_id, _t.run_id, _t.task_id, _t.map_index, _t.key).where(
                expired).order_by(_t.id)
            rows = self._read(self._fetch_rows, query)
            return CleanupReport(count=len(rows), dry_run=True, rows=rows)
        if batch_size <= 0:
            return CleanupReport(count=self._run(self._delete_where, expired))
        # Each batch walks the expires_at index, not the table. On PostgreSQL the batch's
        # ids are computed once (an InitPlan) and deleted through the primary key: an
        # IN (subquery) there can be planned as a nested loop over the whole table when
        # statistics are stale (a batch then outlived statement_timeout in a test run).
        batch = select(_t.id).where(expired).order_by(_t.expires_at).limit(batch_size)
        in_batch = (_t.id == any_(func.array(batch.scalar_subquery()))
                    if self.engine.dialect.name == "postgresql"
                    else _t.id.in_(batch.scalar_subquery()))
        total, sqlite = 0, self.engine.dialect.name == "sqlite"
        while True:
            started = time.monotonic()
            deleted = self._run(self._delete_where, and_(in_batch, expired))
            total += deleted
            if deleted < batch_size:
                return CleanupReport(count=total)
            if sqlite:
                # SQLite has one writer at a time, and a writer kept waiting retries at
                # growing intervals (up to 100 ms): back-to-back batches would starve
                # it for the whole cleanup. Pausing as long as the batch took lets it in.
                time.sleep(time.monotonic() - started)

    def _fetch_rows(self, query: Any) -> tuple[CleanupRow, ...]:
        with self.engine.connect() as conn:
            return tuple(CleanupRow(*row) for row in conn.execute(query))

    def _delete_where(self, condition: ColumnElement[bool]) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(task_state.delete().where(condition)).rowcount)

    def close(self) -> None:
        self._path.connections.reset()
        self.engine.dispose()

"""The in-memory backend: thread-safe, process-local; the test double.

How it works: two dicts guarded by one lock, task rows keyed by
``(dag_id, run_id, task_id, map_index)`` then key, asset rows by asset identity then key.
Values are kept as JSON text, so a caller mutating a value after ``set`` or after ``get``
never changes what is stored.

What it does not do: persist anything or share state between processes; each
``connect("memory://")`` gets a new, empty store (pass one ``MemoryBackend`` to several
``StoreClient`` objects to share it within a process).
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import NamedTuple

from store_client._backend import (
    Change,
    CleanupReport,
    CleanupRow,
    Scope,
    ScopeSummary,
    StoreBackend,
    TaskEntry,
)
from store_client._scopes import AssetScope, TaskScope

__all__ = ["MemoryBackend"]

_TaskId = tuple[str, str, str, int]


class _Row(NamedTuple):
    value: str
    expires_at: datetime | None
    updated_at: datetime


def _live(row: _Row | None, now: datetime) -> bool:
    return row is not None and (row.expires_at is None or row.expires_at > now)


class MemoryBackend(StoreBackend):
    """A :class:`StoreBackend` in a dict; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[_TaskId, dict[str, _Row]] = {}
        self._assets: dict[str, dict[str, _Row]] = {}

    def _rows(self, scope: Scope, *, create: bool = False) -> dict[str, _Row]:
        """The row dict of a scope (caller holds the lock)."""
        if isinstance(scope, TaskScope):
            tid = (scope.dag_id, scope.run_id, scope.task_id, scope.map_index)
            if create:
                return self._tasks.setdefault(tid, {})
            return self._tasks.get(tid, {})
        if create:
            return self._assets.setdefault(scope.identity, {})
        return self._assets.get(scope.identity, {})

    def get(self, scope: Scope, key: str, *, now: datetime) -> str | None:
        with self._lock:
            row = self._rows(scope).get(key)
        return row.value if row is not None and _live(row, now) else None

    def put(self, scope: Scope, key: str, value: str, *, expires_at: datetime | None,
            now: datetime) -> None:
        with self._lock:
            self._rows(scope, create=True)[key] = _Row(value, expires_at, now)

    def delete(self, scope: Scope, key: str) -> None:
        with self._lock:
            self._rows(scope).pop(key, None)

    def clear(self, scope: Scope, *, all_map_indices: bool = False) -> None:
        with self._lock:
            if isinstance(scope, TaskScope) and all_map_indices:
                prefix = (scope.dag_id, scope.run_id, scope.task_id)
                for tid in [t for t in self._tasks if t[:3] == prefix]:
                    del self._tasks[tid]
            else:
                self._rows(scope).clear()

    def items(self, scope: Scope, *, now: datetime) -> dict[str, str]:
        with self._lock:
            rows = list(self._rows(scope).items())
        return {key: row.value for key, row in rows if _live(row, now)}

    def compare_and_set(self, scope: Scope, key: str, expected: str | None, new: str,
                        *, now: datetime, expires_at: datetime | None = None) -> bool:
        with self._lock:
            rows = self._rows(scope, create=True)
            row = rows.get(key)
            current = row.value if row is not None and _live(row, now) else None
            if current != expected:
                return False
            rows[key] = _Row(new, expires_at, now)
            return True

    def update(self, scope: Scope, key: str, change: Change, *, now: datetime,
               expires_at: datetime | None = None) -> str | None:
        with self._lock:  # change() runs under the lock: no other writer can get in
            rows = self._rows(scope, create=True)
            row = rows.get(key)
            current = row.value if row is not None and _live(row, now) else None
            new = change(current)
            if new is None or new == current:
                return current
            rows[key] = _Row(new, expires_at, now)
            return new

    def scan_tasks(self, key_prefix: str, *, now: datetime,
                   pair: bool = False) -> list[TaskEntry]:
        with self._lock:
            found = [(tid, key, row, rows.get(key[len(key_prefix):]) if pair else None)
                     for tid, rows in self._tasks.items()
                     for key, row in rows.items() if key.startswith(key_prefix)]
        return [TaskEntry(TaskScope(*tid), key, row.value, row.updated_at,
                          other.value if other is not None and _live(other, now) else None)
                for tid, key, row, other in found if _live(row, now)]

    def scopes(self, *, now: datetime) -> list[ScopeSummary]:
        with self._lock:
            groups: list[tuple[TaskScope | AssetScope, list[_Row]]] = [
                (TaskScope(*tid), list(rows.values())) for tid, rows in self._tasks.items()]
            groups += [(AssetScope(name=name), list(rows.values()))
                       for name, rows in self._assets.items()]
        found = []
        for scope, rows in groups:
            live = [row for row in rows if _live(row, now)]
            if live:
                found.append(ScopeSummary(scope, len(live), max(r.updated_at for r in live)))
        return found

    def cleanup(self, *, now: datetime, dry_run: bool = False,
                batch_size: int = 0) -> CleanupReport:
        with self._lock:
            expired = [
                (tid, key)
                for tid, rows in self._tasks.items()
                for key, row in rows.items()
                if row.expires_at is not None and row.expires_at <= now
            ]
            if not dry_run:
                for tid, key in expired:
                    del self._tasks[tid][key]
        rows_out = tuple(CleanupRow(*tid, key) for tid, key in expired) if dry_run else ()
        return CleanupReport(count=len(expired), dry_run=dry_run, rows=rows_out)

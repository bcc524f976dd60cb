"""The backend interface: one small abstract class every store backend implements.

How it works: a backend stores already-validated, already-encoded JSON text under a
scope and a key. Stores (``TaskStore``/``AssetStore``) do all validation, encoding and
expiry arithmetic before they call it, so a backend never sees a bad key, value or
retention, and the semantics are identical on every backend. The caller passes ``now``
(UTC) to every call that cares about expiry, so rows with ``expires_at <= now`` are
invisible to ``get``/``items`` before any cleanup, and tests can move the clock.

The async methods default to running the sync method in a worker thread; a backend with
a native async client (HTTP) overrides them. Nothing is written twice to serve both.

What it does not do: validate input, retry, or translate errors itself; each concrete
backend translates its library's exceptions into ``store_client``'s error tree at its
own boundary and applies its ``RetryPolicy``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from store_client._errors import StoreBackendError, StoreConflictError
from store_client._scopes import AssetScope, TaskScope

__all__ = ["UPDATE_ATTEMPTS", "Change", "CleanupReport", "CleanupRow", "Scope",
           "ScopeSummary", "StoreBackend", "TaskEntry"]

Scope = TaskScope | AssetScope
#: What ``update`` applies: the current JSON text (None: absent) to the new one (None:
#: leave it).
Change = Callable[[str | None], str | None]
#: Attempts of the default, optimistic ``update`` before ``StoreConflictError``.
UPDATE_ATTEMPTS: Final = 20


@dataclass(frozen=True, slots=True)
class CleanupRow:
    """One expired task-store row: what a dry-run cleanup would delete."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str


@dataclass(frozen=True, slots=True)
class TaskEntry:
    """One live task-store row found by a scan across scopes (value as JSON text)."""

    scope: TaskScope
    key: str
    value: str
    updated_at: datetime
    #: With ``scan_tasks(pair=True)``: the live value of the scope's key named by the rest
    #: of this key after the prefix (``prefix + name`` -> ``name``), or None.
    paired: str | None = None


@dataclass(frozen=True, slots=True)
class ScopeSummary:
    """One scope a store holds live keys for: how many, and when one last changed."""

    scope: TaskScope | AssetScope
    keys: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What ``cleanup`` did: ``count`` rows deleted (dry run: would delete), and, on a dry
    run only, every such row in ``rows``."""

    count: int
    dry_run: bool = False
    rows: tuple[CleanupRow, ...] = ()


class StoreBackend(ABC):
    """Storage of encoded JSON values by scope and key. Subclass it to add a backend."""

    @abstractmethod
    def get(self, scope: Scope, key: str, *, now: datetime) -> str | None:
        """The live value's JSON text, or ``None`` if absent or expired."""

    @abstractmethod
    def put(self, scope: Scope, key: str, value: str, *, expires_at: datetime | None,
            now: datetime) -> None:
        """Insert or replace a value (asset scopes always pass ``expires_at=None``)."""

    @abstractmethod
    def delete(self, scope: Scope, key: str) -> None:
        """Delete one key; deleting an absent key is not an error."""

    @abstractmethod
    def clear(self, scope: Scope, *, all_map_indices: bool = False) -> None:
        """Delete every key of the scope (of every map index of the task, if asked)."""

    @abstractmethod
    def items(self, scope: Scope, *, now: datetime) -> dict[str, str]:
        """Every live key of the scope and its JSON text."""

    @abstractmethod
    def compare_and_set(self, scope: Scope, key: str, expected: str | None, new: str,
                        *, now: datetime, expires_at: datetime | None = None) -> bool:
        """Atomically write ``new`` if the current live JSON text is ``expected`` (``None``:
        the key is absent or expired). True if written. ``expires_at`` is the new row's
        expiry (task scopes; asset scopes always pass ``None``)."""

    def update(self, scope: Scope, key: str, change: Change, *, now: datetime,
               expires_at: datetime | None = None) -> str | None:
        """Atomically replace the live JSON text ``current`` (None: absent) with
        ``change(current)``; ``change`` returning None or ``current`` writes nothing.
        Returns the text stored at the end. ``change`` may be called more than once: it
        must be pure.

        This default reads and calls :meth:`compare_and_set`, again when another writer
        got in first, at most ``UPDATE_ATTEMPTS`` times (then ``StoreConflictError``).
        Backends that can lock the row first override it, so writers queue instead.
        """
        for _ in range(UPDATE_ATTEMPTS):
            current = self.get(scope, key, now=now)
            new = change(current)
            if new is None or new == current:
                return current
            if self.compare_and_set(scope, key, current, new, now=now, expires_at=expires_at):
                return new
        raise StoreConflictError(
            f"key {key!r} changed under each of {UPDATE_ATTEMPTS} compare_and_set attempts "
            "of an update; nothing was written")

    @abstractmethod
    def cleanup(self, *, now: datetime, dry_run: bool = False,
                batch_size: int = 0) -> CleanupReport:
        """Delete task-store rows with ``expires_at <= now``; never asset rows."""

    @abstractmethod
    def scan_tasks(self, key_prefix: str, *, now: datetime,
                   pair: bool = False) -> list[TaskEntry]:
        """Every live task-store row, of every scope, whose key starts with ``key_prefix``,
        oldest first; with ``pair``, each with its paired value (see ``TaskEntry``)."""

    def scopes(self, *, now: datetime) -> list[ScopeSummary]:
        """Every task and asset scope with live keys (tasks first), with counts.

        Backends that cannot list across scopes raise ``StoreBackendError``.
        """
        raise StoreBackendError(f"{type(self).__name__} cannot list its scopes")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release connections. The default has nothing to release."""

    async def aget(self, scope: Scope, key: str, *, now: datetime) -> str | None:
        """Async :meth:`get`."""
        return await asyncio.to_thread(self.get, scope, key, now=now)

    async def aput(self, scope: Scope, key: str, value: str, *, expires_at: datetime | None,
                   now: datetime) -> None:
        """Async :meth:`put`."""
        await asyncio.to_thread(self.put, scope, key, value, expires_at=expires_at, now=now)

    async def adelete(self, scope: Scope, key: str) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, scope, key)

    async def aclear(self, scope: Scope, *, all_map_indices: bool = False) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear, scope, all_map_indices=all_map_indices)

    async def aitems(self, scope: Scope, *, now: datetime) -> dict[str, str]:
        """Async :meth:`items`."""
        return await asyncio.to_thread(self.items, scope, now=now)

    async def aupdate(self, scope: Scope, key: str, change: Change, *, now: datetime,
                      expires_at: datetime | None = None) -> str | None:
        """Async :meth:`update`."""
        return await asyncio.to_thread(self.update, scope, key, change, now=now,
                                       expires_at=expires_at)

    async def acompare_and_set(self, scope: Scope, key: str, expected: str | None,
                               new: str, *, now: datetime,
                               expires_at: datetime | None = None) -> bool:
        """Async :meth:`compare_and_set`."""
        return await asyncio.to_thread(self.compare_and_set, scope, key, expected, new,
                                       now=now, expires_at=expires_at)

"""Task and asset stores: the user-facing key/value API over a backend.

How it works: a store binds a backend to one scope. Every call validates its key and
value here (``_values``), computes expiry from the client's clock, and only then calls
the backend, so a bad input raises before anything is written, the same way on every
backend. The sync and async methods share the preparation step and differ only in
which backend method they call (``get``/``aget``, ...): there is no second copy.

What it does not do: cache; every call goes to the backend.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from pydantic import JsonValue

from store_client._backend import StoreBackend
from store_client._config import StoreSettings
from store_client._scopes import AssetScope, TaskScope
from store_client._values import decode_value, encode_value, expires_at_for, validate_key

__all__ = ["AssetStore", "TaskStore"]

S = TypeVar("S", TaskScope, AssetScope)
D = TypeVar("D")
Clock = Callable[[], datetime]
#: What ``update`` applies: the current value (None: absent) to the new one (None: keep).
Change = Callable[[JsonValue | None], JsonValue | None]


def _decoded(text: str | None, default: D) -> JsonValue | D:
    return default if text is None else decode_value(text)


class _Store(Generic[S]):
    """What task and asset stores share: get, delete, items, and their async twins."""

    def __init__(self, backend: StoreBackend, scope: S, settings: StoreSettings,
                 clock: Clock) -> None:
        self._backend = backend
        self._settings = settings
        self._clock = clock
        self.scope: S = scope

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.scope!r})"

    def _encode(self, key: str, value: object) -> str:
        return encode_value(validate_key(key), value, self._settings.max_value_bytes)

    def get(self, key: str, default: D = None) -> JsonValue | D:  # type: ignore[assignment]
        """The value stored under ``key``, or ``default`` if absent or expired."""
        return _decoded(self._backend.get(self.scope, validate_key(key), now=self._clock()),
                        default)

    async def aget(self, key: str, default: D = None) -> JsonValue | D:  # type: ignore[assignment]
        """Async :meth:`get`."""
        text = await self._backend.aget(self.scope, validate_key(key), now=self._clock())
        return _decoded(text, default)

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting an absent key does nothing."""
        self._backend.delete(self.scope, validate_key(key))

    async def adelete(self, key: str) -> None:
        """Async :meth:`delete`."""
        await self._backend.adelete(self.scope, validate_key(key))

    def items(self) -> dict[str, JsonValue]:
        """Every live key of this scope with its value."""
        return {k: decode_value(v) for k, v in self._backend.items(
            self.scope, now=self._clock()).items()}

    async def aitems(self) -> dict[str, JsonValue]:
        """Async :meth:`items`."""
        rows = await self._backend.aitems(self.scope, now=self._clock())
        return {k: decode_value(v) for k, v in rows.items()}

    @staticmethod
    def _expected(key: str, expected: JsonValue | None) -> str | None:
        """``expected`` as the canonical JSON it is compared by (None: absent)."""
        return None if expected is None else encode_value(key, expected)


class TaskStore(_Store[TaskScope]):
    """Values of one task instance, shared by all its tries; they expire (see ``set``)."""

    def _prepare(self, key: str, value: object,
                 retention: timedelta | None) -> tuple[str, str, datetime | None, datetime]:
        encoded = self._encode(key, value)
        now = self._clock()
        expires_at = expires_at_for(
            retention, now=now, default_retention_days=self._settings.default_retention_days)
        return key, encoded, expires_at, now

    def set(self, key: str, value: JsonValue, *, retention: timedelta | None = None) -> None:
        """Store ``value`` under ``key``.

        ``retention``: a positive ``timedelta`` expires that long after now;
        ``NEVER_EXPIRE`` never expires and is never cleaned up; ``None`` applies
        ``default_retention_days`` (0 = never). Nothing is written if any check fails.
        """
        key, encoded, expires_at, now = self._prepare(key, value, retention)
        self._backend.put(self.scope, key, encoded, expires_at=expires_at, now=now)

    async def aset(self, key: str, value: JsonValue, *,
                   retention: timedelta | None = None) -> None:
        """Async :meth:`set`."""
        key, encoded, expires_at, now = self._prepare(key, value, retention)
        await self._backend.aput(self.scope, key, encoded, expires_at=expires_at, now=now)

    def compare_and_set(self, key: str, expected: JsonValue | None, new: JsonValue, *,
                        retention: timedelta | None = None) -> bool:
        """Atomically set ``key`` to ``new`` if it currently holds ``expected``.

        ``expected=None`` means "absent" (an expired value is absent). ``retention`` is
        the new value's, as for :meth:`set`. Values compare by canonical JSON. Returns
        True if this call wrote ``new``. Two tries of one task instance racing to claim
        a key: exactly one gets True.
        """
        key, encoded, expires_at, now = self._prepare(key, new, retention)
        return self._backend.compare_and_set(self.scope, key, self._expected(key, expected),
                                             encoded, now=now, expires_at=expires_at)

    async def acompare_and_set(self, key: str, expected: JsonValue | None, new: JsonValue, *,
                               retention: timedelta | None = None) -> bool:
        """Async :meth:`compare_and_set`."""
        key, encoded, expires_at, now = self._prepare(key, new, retention)
        return await self._backend.acompare_and_set(
            self.scope, key, self._expected(key, expected), encoded, now=now,
            expires_at=expires_at)

    def clear(self, *, all_map_indices: bool = False) -> None:
        """Delete every key of this task instance (of every map index, if asked)."""
        self._backend.clear(self.scope, all_map_indices=all_map_indices)

    async def aclear(self, *, all_map_indices: bool = False) -> None:
        """Async :meth:`clear`."""
        await self._backend.aclear(self.scope, all_map_indices=all_map_indices)


class AssetStore(_Store[AssetScope]):
    """Values of one asset, shared by every run; they never expire."""

    def set(self, key: str, value: JsonValue) -> None:
        """Store ``value`` under ``key`` (last writer wins; see :meth:`compare_and_set`)."""
        encoded = self._encode(key, value)
        self._backend.put(self.scope, key, encoded, expires_at=None, now=self._clock())

    async def aset(self, key: str, value: JsonValue) -> None:
        """Async :meth:`set`."""
        encoded = self._encode(key, value)
        await self._backend.aput(self.scope, key, encoded, expires_at=None, now=self._clock())

    def clear(self) -> None:
        """Delete every key of this asset."""
        self._backend.clear(self.scope)

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self._backend.aclear(self.scope)

    def compare_and_set(self, key: str, expected: JsonValue | None, new: JsonValue) -> bool:
        """Atomically set ``key`` to ``new`` if it currently holds ``expected``.

        ``expected=None`` means "the key is absent". Values are compared by their
        canonical JSON (so ``1`` and ``1.0`` differ; dict key order does not matter).
        Returns True if this call wrote ``new``.
        """
        encoded = self._encode(key, new)
        return self._backend.compare_and_set(self.scope, key, self._expected(key, expected),
                                             encoded, now=self._clock())

    async def acompare_and_set(self, key: str, expected: JsonValue | None,
                               new: JsonValue) -> bool:
        """Async :meth:`compare_and_set`."""
        encoded = self._encode(key, new)
        return await self._backend.acompare_and_set(
            self.scope, key, self._expected(key, expected), encoded, now=self._clock())

    def update(self, key: str, change: Change) -> JsonValue | None:
        """Atomically replace the value of ``key`` with ``change(current)``.

        ``current`` is None when the key is absent; ``change`` returning None (or the
        value it was given) writes nothing. Returns the value stored at the end. On the
        SQL store the row's lock is taken first, so concurrent updates of one key queue
        and all succeed; on other stores this is ``compare_and_set`` attempts (bounded,
        then ``StoreConflictError``). ``change`` may run more than once (after another
        writer, or a retried outage): it must have no side effects.
        """
        key = validate_key(key)
        return _decoded(self._backend.update(self.scope, key, self._on_text(key, change),
                                             now=self._clock()), None)

    async def aupdate(self, key: str, change: Change) -> JsonValue | None:
        """Async :meth:`update`."""
        key = validate_key(key)
        text = await self._backend.aupdate(self.scope, key, self._on_text(key, change),
                                           now=self._clock())
        return _decoded(text, None)

    def _on_text(self, key: str, change: Change) -> Callable[[str | None], str | None]:
        """``change`` over JSON text: decode the current text, encode (and check) the new."""
        def on_text(current: str | None) -> str | None:
            new = change(_decoded(current, None))
            return None if new is None else self._encode(key, new)
        return on_text

"""The airflow_context backend: our store API over a running Airflow task's own stores.

How it works: :func:`from_context` finds Airflow's accessors in a task's context
(``task_state_store`` / ``asset_state_store`` in Airflow 3.3, and the draft names
``task_state``, ``task_store``, ``asset_state``, ``asset_store``) and wraps them in
:class:`AirflowTaskStore` / :class:`AirflowAssetStore`. Every call validates its key and
value here first (the same rules and limits as every other backend, so a bad input
raises our error before Airflow sees it), hands Airflow its *own* ``NEVER_EXPIRE``
object for any retention equal to it (Airflow tests ``retention is NEVER_EXPIRE``; an
equal copy made by pickling would overflow its date arithmetic), and translates what
Airflow raises into the ``StoreError`` tree at the boundary. On Airflow without a task
state store (3.0-3.2, 2.x), or a context without one, a ``TaskScope`` is built from the
task instance and the configured store (``connect()``) is used instead.

``compare_and_set`` on Airflow's task and asset stores is emulated: read, compare the
canonical JSON with ``expected``, write. Airflow's API has no conditional write, so the race it
cannot close is this: two writers that both read the same value before either writes
both succeed, and the later write wins. For a watermark that means the cursor can be set
back to the smaller of two concurrent runs' values (the next run re-reads rows; none is
skipped), never past rows not loaded; for a claim on a task store, two tries can both
believe they won. Pass ``store=connect(...)`` for an atomic one on our SQL store.

Minimal accessors: tests (Airflow's own and users') often fake the store with an object
offering only ``get(key)`` and ``set(key, value)``. Each wrapper reads the accessor's
signatures once, when it is made (``inspect.signature``; one it cannot read, as some C
callables', counts as the full interface, as does a ``Mock``'s ``*args, **kwargs``), and adapts:
``get``'s ``default`` is passed only to a ``get`` with a second positional parameter (or
``*args``); otherwise ``get(key)`` is called and a None it returns reads as ``default``.
``retention`` is passed only to a ``set`` with a ``retention`` parameter (or
``**kwargs``); otherwise the value keeps whatever retention that store applies, and ours
is validated and then dropped. Without ``delete``, deleting writes None to a key that
holds a value (an absent key is left alone), so such a store keeps the key with a null
value, which ``get`` reads as absent; this read-then-write is not atomic either.

What it does not do: ``items`` (Airflow's accessors cannot list keys; use the REST API
backend or ``airflow`` CLI), ``clear(all_map_indices=True)``, or ``clear`` on an accessor
without one; these raise ``StoreBackendError``. Async twins run the accessor's sync
methods in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from pydantic import JsonValue

from store_client._client import StoreClient, connect
from store_client._config import resolve_settings
from store_client._errors import (
    InvalidScopeError,
    InvalidValueError,
    StoreBackendError,
    StoreError,
)
from store_client._scopes import AssetScope, TaskScope
from store_client._stores import AssetStore, TaskStore
from store_client._values import (
    NEVER_EXPIRE,
    encode_value,
    is_never_expire,
    validate_key,
    validate_retention,
)

__all__ = ["AirflowAssetStore", "AirflowTaskStore", "ContextStores", "default_client",
           "from_context"]

TASK_KEYS = ("task_state_store", "task_state", "task_store")
ASSET_KEYS = ("asset_state_store", "asset_state", "asset_store")
_client: StoreClient | None = None
_client_lock = threading.Lock()


def default_client() -> StoreClient:
    """The process-wide client of the configured store (``connect()``), made on first use."""
    global _client
    with _client_lock:
        if _client is None:
            _client = connect()
        return _client


def _airflow_never_expire() -> timedelta:
    import importlib

    try:
        sdk = importlib.import_module("airflow.sdk")
    except ImportError:
        return NEVER_EXPIRE
    # Airflow before 3.3 has no such object; ours is timedelta.max too
    result: timedelta = getattr(sdk, "NEVER_EXPIRE", NEVER_EXPIRE)
    return result


def _parameters(method: Any) -> list[inspect.Parameter] | None:
    """``method``'s parameters, or None when its signature cannot be read."""
    try:
        return list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):  # a C callable, a Mock's odd __signature__, no method
        return None


def _takes_default(get: Any) -> bool:
    """Whether ``get`` takes ``default`` as its second positional argument."""
    params = _parameters(get)
    if params is None:
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def _takes_retention(set_: Any) -> bool:
    """Whether ``set_`` takes a ``retention=`` keyword."""
    params = _parameters(set_)
    if params is None:
        return True
    return any(p.kind is p.VAR_KEYWORD or (p.name == "retention" and p.kind in (
        p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)) for p in params)


@contextlib.contextmanager
def _translated(action: str) -> Iterator[None]:
    """Translate what Airflow's accessor raises into the ``StoreError`` tree."""
    try:
        yield
    except StoreError:
        raise
    except KeyError as exc:
        raise InvalidScopeError(f"{action}: {exc.args[0] if exc.args else exc}") from exc
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise InvalidValueError(f"{action}: Airflow refused it: {exc}") from exc
    except Exception as exc:
        raise StoreBackendError(f"{action}: Airflow's store failed: "
                                f"{type(exc).__name__}: {exc}") from exc


class _AccessorStore:
    """What both wrappers share: validation, translation, get/delete/clear and async twins.

    What the accessor offers is read once, here (module doc: minimal accessors)."""

    def __init__(self, accessor: Any, what: str, max_value_bytes: int) -> None:
        self._accessor = accessor
        self._what = what
        self._max_value_bytes = max_value_bytes
        self._get_takes_default = _takes_default(getattr(accessor, "get", None))
        self._has_delete = callable(getattr(accessor, "delete", None))
        self._has_clear = callable(getattr(accessor, "clear", None))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._accessor!r})"

    def _check(self, key: str, value: object) -> None:
        encode_value(validate_key(key), value, self._max_value_bytes)

    def _read(self, key: str, default: Any) -> Any:
        """The accessor's ``get``, its None read as ``default`` if it takes none."""
        if self._get_takes_default:
            return self._accessor.get(key, default)
        value = self._accessor.get(key)
        return default if value is None else value

    def get(self, key: str, default: Any = None) -> JsonValue | Any:
        """The value stored under ``key``, or ``default``."""
        with _translated(f"get {key!r} from {self._what}"):
            return self._read(validate_key(key), default)

    def delete(self, key: str) -> None:
        """Delete ``key``; deleting an absent key does nothing.

        An accessor without ``delete`` gets None written to a key holding a value.
        """
        with _translated(f"delete {key!r} from {self._what}"):
            checked = validate_key(key)
            if self._has_delete:
                self._accessor.delete(checked)
            elif self._read(checked, None) is not None:
                self._accessor.set(checked, None)

    def _clear(self) -> None:
        if not self._has_clear:
            raise StoreBackendError(f"clear {self._what}: the accessor "
                                    f"{type(self._accessor).__name__} has no clear()")
        with _translated(f"clear {self._what}"):
            self._accessor.clear()

    async def aget(self, key: str, default: Any = None) -> JsonValue | Any:
        """Async :meth:`get`."""
        return await asyncio.to_thread(self.get, key, default)

    async def adelete(self, key: str) -> None:
        """Async :meth:`delete`."""
        await asyncio.to_thread(self.delete, key)

    def _emulated_cas(self, key: str, expected: JsonValue | None, new: JsonValue,
                      write: Callable[[], None]) -> bool:
        """Read, compare by canonical JSON, ``write()``: Airflow has no conditional write,
        so another writer between the read and the write is not seen (module doc)."""
        self._check(key, new)
        current = self.get(key)
        if (current is None) != (expected is None) or (
                current is not None and encode_value(key, current) != encode_value(key, expected)):
            return False
        write()
        return True

    def items(self) -> dict[str, JsonValue]:
        """Not available: Airflow's accessors cannot list keys."""
        raise StoreBackendError(f"{self._what} cannot list its keys (Airflow's in-task "
                                "accessor has no list call); use the REST API backend")


class AirflowTaskStore(_AccessorStore):
    """Our task-store API over Airflow's ``TaskStateStoreAccessor``; ``scope`` if known."""

    def __init__(self, accessor: Any, scope: TaskScope | None, max_value_bytes: int) -> None:
        super().__init__(accessor, "Airflow's task state store", max_value_bytes)
        self.scope = scope
        self._set_takes_retention = _takes_retention(getattr(accessor, "set", None))

    def set(self, key: str, value: JsonValue, *, retention: timedelta | None = None) -> None:
        """Write ``key``; ``NEVER_EXPIRE`` (or an equal copy) never expires.

        An accessor whose ``set`` takes no ``retention`` applies its own (module doc).
        """
        self._check(key, value)
        checked = validate_retention(retention)
        if checked is not None and is_never_expire(checked):
            checked = _airflow_never_expire()
        with _translated(f"set {key!r} in {self._what}"):
            if self._set_takes_retention:
                self._accessor.set(key, value, retention=checked)
            else:
                self._accessor.set(key, value)

    async def aset(self, key: str, value: JsonValue, *,
                   retention: timedelta | None = None) -> None:
        """Async :meth:`set`."""
        await asyncio.to_thread(lambda: self.set(key, value, retention=retention))

    def compare_and_set(self, key: str, expected: JsonValue | None, new: JsonValue, *,
                        retention: timedelta | None = None) -> bool:
        """Write ``new`` if the value is ``expected`` (None: absent). Emulated: see module."""
        return self._emulated_cas(key, expected, new,
                                  lambda: self.set(key, new, retention=retention))

    async def acompare_and_set(self, key: str, expected: JsonValue | None, new: JsonValue, *,
                               retention: timedelta | None = None) -> bool:
        """Async :meth:`compare_and_set`."""
        return await asyncio.to_thread(
            lambda: self.compare_and_set(key, expected, new, retention=retention))

    def clear(self, *, all_map_indices: bool = False) -> None:
        """Delete every key of this task instance (this map index only)."""
        if all_map_indices:
            raise StoreBackendError("Airflow's in-task accessor clears one map index only; "
                                    "use the REST API backend for all_map_indices=True")
        self._clear()

    async def aclear(self, *, all_map_indices: bool = False) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(lambda: self.clear(all_map_indices=all_map_indices))


class AirflowAssetStore(_AccessorStore):
    """Our asset-store API over Airflow's ``AssetStateStoreAccessor`` (emulated CAS)."""

    def __init__(self, accessor: Any, asset: str | None, max_value_bytes: int) -> None:
        super().__init__(accessor, f"Airflow's asset state store of {asset or 'the task'!r}",
                         max_value_bytes)
        self.asset = asset

    def set(self, key: str, value: JsonValue) -> None:
        """Write ``key`` (last writer wins)."""
        self._check(key, value)
        with _translated(f"set {key!r} in {self._what}"):
            self._accessor.set(key, value)

    async def aset(self, key: str, value: JsonValue) -> None:
        """Async :meth:`set`."""
        await asyncio.to_thread(self.set, key, value)

    def clear(self) -> None:
        """Delete every key of the asset."""
        self._clear()

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear)

    def compare_and_set(self, key: str, expected: JsonValue | None, new: JsonValue) -> bool:
        """Write ``new`` if the value is ``expected`` (None: absent). Emulated: see module."""
        return self._emulated_cas(key, expected, new, lambda: self.set(key, new))

    async def acompare_and_set(self, key: str, expected: JsonValue | None,
                               new: JsonValue) -> bool:
        """Async :meth:`compare_and_set`."""
        return await asyncio.to_thread(self.compare_and_set, key, expected, new)


def _task_instance(context: Mapping[str, Any]) -> Any:
    return context.get("ti") or context.get("task_instance")


def _scope_of(ti: Any, accessor: Any) -> TaskScope | None:
    fields = ("dag_id", "run_id", "task_id")
    source = ti if ti is not None else getattr(accessor, "_scope", None)
    if source is None or not all(hasattr(source, f) for f in fields):
        return None
    if ti is None and not all(isinstance(getattr(source, f), str) for f in fields):
        return None  # a fake's (a Mock's) ``_scope`` is no task instance's scope
    map_index = getattr(source, "map_index", -1)
    return TaskScope(source.dag_id, source.run_id, source.task_id,
                     map_index if isinstance(map_index, int) else -1)


class ContextStores:
    """A running task's stores: ``task_store`` and ``asset_store(asset)``.

    Made by :func:`from_context`. ``scope`` is the task instance's scope when known.
    """

    def __init__(self, context: Mapping[str, Any], client: StoreClient | None) -> None:
        self._context = context
        self._client = client
        self._max_value_bytes = (client.settings if client is not None
                                 else resolve_settings()).max_value_bytes
        found = next((context[k] for k in TASK_KEYS if context.get(k) is not None), None)
        self._found = found
        self.scope = (found.scope if isinstance(found, TaskStore)
                      else _scope_of(_task_instance(context), found))

    @functools.cached_property
    def task_store(self) -> TaskStore | AirflowTaskStore:
        """The task's store: Airflow's (wrapped), ours from the context, or the client's."""
        if isinstance(self._found, TaskStore):
            return self._found
        if self._found is not None:
            return AirflowTaskStore(self._found, self.scope, self._max_value_bytes)
        if self.scope is not None:
            return (self._client or default_client()).task_store(self.scope)
        raise InvalidScopeError("the context has neither a task state store nor a task "
                                "instance ('ti') to build a TaskScope from")

    def asset_store(self, asset: object = None) -> AssetStore | AirflowAssetStore:
        """The store of ``asset`` (an Airflow ``Asset`` or a name), or of the only asset."""
        accessors = next((self._context[k] for k in ASSET_KEYS
                          if self._context.get(k) is not None), None)
        name = asset if isinstance(asset, str) or asset is None else getattr(asset, "name", None)
        if accessors is None:
            if name is None:
                raise InvalidScopeError("the context has no asset state store: name the asset")
            return (self._client or default_client()).asset_store(AssetScope(name=name))
        if isinstance(accessors, AssetStore):
            return accessors
        if asset is None:
            count = getattr(accessors, "_total", 1)
            if count != 1:
                raise InvalidScopeError(f"the task has {count} assets: name the one whose "
                                        "store you want")
            return AirflowAssetStore(accessors, None, self._max_value_bytes)
        return AirflowAssetStore(_subscript(accessors, asset), name, self._max_value_bytes)


def _subscript(accessors: Any, asset: object) -> Any:
    """``accessors[asset]``, building an Airflow ``Asset`` from a name.

    An accessor that cannot be subscripted is one asset's own accessor: used as it is.
    """
    if not hasattr(accessors, "__getitem__"):
        return accessors
    if isinstance(asset, str):
        from airflow.sdk import Asset

        asset = Asset(name=asset)
    try:
        return accessors[asset]
    except KeyError as exc:
        raise InvalidScopeError(
            f"asset {getattr(asset, 'name', asset)!r} is not among this task's inlets or "
            "outlets: declare it (e.g. @task(outlets=[asset])) to use its store") from exc


def from_context(context: Mapping[str, Any], *,
                 client: StoreClient | None = None) -> ContextStores:
    """The stores of the running Airflow task whose context this is.

    ``client`` is used where Airflow offers no store (and defaults to ``connect()``).
    """
    return ContextStores(context, client)

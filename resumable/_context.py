"""Finding the task store (and the task scope) for a running task from its context.

How it works, in order:

1. ``context["task_store"]``: a ``store_client.TaskStore``, or anything shaped like
   Airflow's accessor (``get(key, default=None)``, ``set(key, value, *, retention=None)``,
   ``delete(key)``);
2. ``context["task_state_store"]`` (Airflow 3.3), or the older draft name
   ``context["task_state"]``: Airflow's own accessor;
3. a task instance in ``context["ti"]`` / ``context["task_instance"]`` (older Airflow,
   or Airflow without a state store): a ``TaskScope`` built from it, on the store
   configured by ``RESUMABLE_STORE_URL`` (one client per process). Without that variable
   there is no store: the embedded default is a per-machine SQLite file, and a retry may
   run on another machine, so it is never used silently inside Airflow. The mixin's
   ``store`` (a ``StoreClient``) comes before all of these: the task's scope on it. The mixin then
   runs without crash recovery, with Airflow's warning (:func:`find_task_store` gives
   None); the decorators raise ``NoTaskStoreError``.

The task scope (for idempotency tokens) comes from the store's ``scope`` attribute when
it has one, else from the task instance; it is ``None`` when neither exists.

The decorators resolve their stores here too (:func:`resolve_task_store`,
:func:`resolve_asset_store`), in DESIGN's order: an explicit store argument, the running
Airflow task's context (found with ``airflow.sdk.get_current_context`` only when
``airflow.sdk`` is already imported, so plain jobs never import Airflow), then the default
``connect()`` client.

Airflow's accessors are wrapped by ``store_client.from_context`` (validation, Airflow's
own ``NEVER_EXPIRE`` object, our error tree).

What it does not do: build scopes from a DAG run alone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from resumable._errors import NoTaskStoreError
from store_client import (
    ENV_STORE_URL,
    AssetScope,
    AssetStore,
    StoreClient,
    TaskScope,
    TaskStore,
    from_context,
)
from store_client import default_client as store_client_default

__all__ = [
    "AssetStoreLike",
    "TaskStoreLike",
    "clear_number_from_context",
    "current_airflow_context",
    "default_client",
    "find_task_store",
    "resolve_asset_store",
    "resolve_task_store",
    "scope_from_context",
    "task_store_from_context",
]

_ACCESSOR_KEYS = ("task_store", "task_state_store", "task_state")


@runtime_checkable
class TaskStoreLike(Protocol):
    """What the mixin and decorators need of a task store: ours or Airflow's accessor."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None: ...

    def delete(self, key: str) -> None: ...


@runtime_checkable
class AssetStoreLike(Protocol):
    """What a watermark needs of an asset store: read, and an atomic compare-and-set."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def compare_and_set(self, key: str, expected: Any, new: Any) -> bool: ...


def default_client() -> StoreClient:
    """The process-wide client of the configured store (``connect()``), made on first use."""
    return store_client_default()


def _task_instance(context: Mapping[str, Any]) -> Any:
    return context.get("ti") or context.get("task_instance")


def scope_from_task_instance(ti: Any) -> TaskScope:
    """A ``TaskScope`` from an Airflow task instance (any object with its four fields)."""
    map_index = getattr(ti, "map_index", -1)
    return TaskScope(ti.dag_id, ti.run_id, ti.task_id,
                     map_index if isinstance(map_index, int) else -1)


def _has_get_set(store: object) -> bool:
    return callable(getattr(store, "get", None)) and callable(getattr(store, "set", None))


def find_task_store(context: Mapping[str, Any],
                    client: StoreClient | None = None) -> TaskStoreLike | None:
    """The task store for ``context`` (the module docstring's order), or None if none.

    ``client`` (the mixin's ``store``) is the explicit choice: it holds the task's state,
    under the scope of the context's task instance (or of the store it carries). An
    accessor needs only ``get`` and ``set``; ``delete`` and ``retention=`` are used when
    it offers them (``store_client.from_context`` adapts).
    """
    if not isinstance(context, Mapping):
        raise NoTaskStoreError(f"the context must be a mapping (Airflow's context or a "
                               f"dict), got {type(context).__name__}")
    if client is not None:
        carried = next((context[k] for k in _ACCESSOR_KEYS if context.get(k) is not None),
                       None)
        scope = scope_from_context(context, carried)
        if scope is None:
            raise NoTaskStoreError("store= needs the task's scope: the context has no task "
                                   "instance ('ti') and no scoped task store")
        return client.task_store(scope)
    for name in _ACCESSOR_KEYS:
        store = context.get(name)
        if store is not None:
            if not _has_get_set(store):
                raise NoTaskStoreError(
                    f"context[{name!r}] is a {type(store).__name__}, which has no "
                    "get/set; pass a store_client TaskStore")
            if isinstance(store, TaskStore):
                return store
            # Airflow's accessor (or one shaped like it): wrapped so that values are
            # validated, NEVER_EXPIRE is Airflow's own object and errors are ours.
            wrapped: TaskStoreLike = from_context(context).task_store
            return wrapped
    ti = _task_instance(context)
    if ti is not None and os.environ.get(ENV_STORE_URL):
        return default_client().task_store(scope_from_task_instance(ti))
    return None


def task_store_from_context(context: Mapping[str, Any],
                            client: StoreClient | None = None) -> TaskStoreLike:
    """The task store for ``context``; ``NoTaskStoreError`` saying how to give one."""
    store = find_task_store(context, client)
    if store is not None:
        return store
    if _task_instance(context) is not None:
        raise NoTaskStoreError(
            "this Airflow task has no task state store (Airflow before 3.3?) and "
            f"{ENV_STORE_URL} is not set: set it to a store every worker reaches "
            "(postgresql+psycopg://...), or pass task_store=")
    raise NoTaskStoreError(
        "no task store in the context: outside Airflow pass "
        "{'task_store': connect().task_store(TaskScope(dag, run, task))}")


def scope_from_context(context: Mapping[str, Any], store: object) -> TaskScope | None:
    """The task scope of the running task, if the store or the context tells it."""
    scope = getattr(store, "scope", None)
    if isinstance(scope, TaskScope):
        return scope
    ti = _task_instance(context)
    return scope_from_task_instance(ti) if ti is not None else None


def clear_number_from_context(context: Any) -> int | None:
    """Airflow's ``dag_run.clear_number`` of the running try (None outside Airflow).

    It grows by one each time a user clears the task's run; task state survives a clear.
    """
    dag_run = context.get("dag_run") if isinstance(context, Mapping) else None
    number = getattr(dag_run, "clear_number", None)
    return number if type(number) is int and number >= 0 else None


def current_airflow_context() -> Mapping[str, Any] | None:
    """The running Airflow task's context, or None outside one (Airflow is never imported)."""
    sdk = sys.modules.get("airflow.sdk")
    getter = getattr(sdk, "get_current_context", None) if sdk is not None else None
    if getter is None:
        return None
    try:
        context: Mapping[str, Any] = getter()
    except RuntimeError:  # "no context was found": not inside a running task
        return None
    return context


def resolve_task_store(given: object, client: StoreClient | None,
                       who: str) -> TaskStoreLike:
    """The task store for one call of ``who``: ``given`` (``task_store=``), Airflow, or an error.

    ``given`` may be a task store or a ``TaskScope`` (then on ``client``, or the default
    client). Inside Airflow, ``client`` (the decorator's ``store=``) gets the task's scope;
    without it the task's own store is used.
    """
    if given is not None:
        if isinstance(given, TaskScope):
            return (client or default_client()).task_store(given)
        if isinstance(given, TaskStoreLike):
            return given
        raise TypeError(f"{who}: task_store= must be a task store or a TaskScope, "
                        f"got {type(given).__name__}")
    context = current_airflow_context()
    if context is not None:
        scope = scope_from_context(context, None) if client is not None else None
        if client is not None and scope is not None:
            return client.task_store(scope)
        return task_store_from_context(context)
    raise NoTaskStoreError(
        f"{who} runs outside Airflow, so it has no task to keep its checkpoint in: call it "
        "with task_store=connect().task_store(TaskScope(dag_id, run_id, task_id)) "
        "or task_store=TaskScope(...)")


def resolve_asset_store(asset_name: str, given: object, client: StoreClient | None,
                        who: str) -> AssetStoreLike:
    """The asset store for one call of ``who``.

    In order: ``asset_store=``, the decorator's ``client``, the running Airflow task's
    store of that asset (compare-and-set emulated: see ``store_client._airflow_context``),
    the default client.
    """
    if given is None and client is None and (context := current_airflow_context()):
        airflow_store: AssetStoreLike = from_context(context).asset_store(asset_name)
        return airflow_store
    if given is not None:
        scope = getattr(given, "scope", None)
        # Task stores have get and compare_and_set too: the scope tells them apart.
        if not isinstance(given, AssetStoreLike) or isinstance(scope, TaskScope):
            raise TypeError(f"{who}: asset_store= must be an asset store with get and "
                            f"compare_and_set, got {type(given).__name__}")
        if isinstance(scope, AssetScope) and asset_name not in (scope.name, scope.uri):
            raise ValueError(f"{who}: asset_store= is the store of asset "
                             f"{scope.identity!r}, but the watermark is for {asset_name!r}")
        return given
    store: AssetStore = (client or default_client()).asset_store(AssetScope(name=asset_name))
    return store

"""from_context: our store API over Airflow's in-task accessors, and the fallbacks.

The accessors here are stand-ins recording what Airflow would receive; the real ones
only work inside a running task, which ``tests/airflow`` covers with ``dag.test()``.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from store_client import (
    NEVER_EXPIRE,
    InvalidKeyError,
    InvalidRetentionError,
    InvalidScopeError,
    InvalidValueError,
    StoreBackendError,
    TaskScope,
    TaskStore,
    ValueTooLargeError,
    connect,
    from_context,
)
from store_client._airflow_context import AirflowAssetStore, AirflowTaskStore


class Accessor:
    """Shaped like Airflow's accessors: a dict, recording every retention it is handed."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.data: dict[str, Any] = {}
        self.retentions: list[Any] = []
        self.fail = fail

    def get(self, key: str, default: Any = None) -> Any:
        if self.fail:
            raise self.fail
        return self.data.get(key, default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        self.retentions.append(retention)
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def clear(self) -> None:
        self.data.clear()


class AssetAccessor(Accessor):
    def set(self, key: str, value: Any) -> None:  # type: ignore[override]
        self.data[key] = value


TI = SimpleNamespace(dag_id="dag", run_id="run", task_id="task", map_index=2)


def test_never_expire_copies_reach_airflow_as_its_own_object() -> None:
    from airflow.sdk import NEVER_EXPIRE as AIRFLOW_NEVER_EXPIRE

    accessor = Accessor()
    store = from_context({"task_state_store": accessor, "ti": TI}).task_store
    for retention in (NEVER_EXPIRE, copy.deepcopy(NEVER_EXPIRE),
                      pickle.loads(pickle.dumps(NEVER_EXPIRE))):
        store.set("job_id", "j-1", retention=retention)
    assert all(r is AIRFLOW_NEVER_EXPIRE for r in accessor.retentions)
    store.set("k", 1, retention=timedelta(hours=1))
    store.set("k", 1)
    assert accessor.retentions[-2:] == [timedelta(hours=1), None]


def test_the_scope_comes_from_the_task_instance_or_the_accessor() -> None:
    assert from_context({"task_state_store": Accessor(), "ti": TI}).scope == \
        TaskScope("dag", "run", "task", 2)
    accessor = Accessor()
    accessor._scope = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1)  # type: ignore[attr-defined]
    assert from_context({"task_state_store": accessor}).task_store.scope == \
        TaskScope("d", "r", "t")


@pytest.mark.parametrize("name", ["task_state_store", "task_state", "task_store"])
def test_every_context_key_spelling_is_found(name: str) -> None:
    accessor = Accessor()
    store = from_context({name: accessor}).task_store
    store.set("k", [1])
    assert accessor.data == {"k": [1]} and store.get("k") == [1]


@pytest.mark.parametrize(("call", "error"), [
    (lambda s: s.set("", 1), InvalidKeyError),
    (lambda s: s.set("k", None), InvalidValueError),
    (lambda s: s.set("k", float("nan")), InvalidValueError),
    (lambda s: s.set("k", "x" * 70_000), ValueTooLargeError),
    (lambda s: s.set("k", 1, retention=timedelta(0)), InvalidRetentionError),
    (lambda s: s.set("k", 1, retention=5), TypeError),
    (lambda s: s.clear(all_map_indices=True), StoreBackendError),
])
def test_bad_input_is_refused_before_airflow_sees_it(call: Any, error: type[Exception]) -> None:
    accessor = Accessor()
    with pytest.raises(error):
        call(from_context({"task_state_store": accessor}).task_store)
    assert accessor.data == {} and accessor.retentions == []


@pytest.mark.parametrize(("raised", "error"), [
    (RuntimeError("comms down"), StoreBackendError),
    (ValueError("Cannot set value as None"), InvalidValueError),
    (KeyError("orders is not in this task's inlets or outlets"), InvalidScopeError),
])
def test_airflows_errors_are_translated(raised: Exception, error: type[Exception]) -> None:
    store = from_context({"task_state_store": Accessor(fail=raised)}).task_store
    with pytest.raises(error) as info:
        store.get("k")
    assert info.value.__cause__ is raised


def test_items_is_a_clear_error() -> None:
    with pytest.raises(StoreBackendError, match="cannot list"):
        from_context({"task_state_store": Accessor()}).task_store.items()


def test_our_own_task_store_in_the_context_is_used_as_it_is() -> None:
    ours = connect("memory://").task_store(TaskScope("d", "r", "t"))
    assert from_context({"task_store": ours}).task_store is ours


def test_without_a_state_store_the_task_instance_scope_uses_the_client() -> None:
    client = connect("memory://")
    stores = from_context({"ti": TI}, client=client)
    assert isinstance(stores.task_store, TaskStore)
    stores.task_store.set("k", 1)
    assert client.task_store(TaskScope("dag", "run", "task", 2)).get("k") == 1
    stores.asset_store("orders").set("w", 1)
    assert client.asset_store("orders").get("w") == 1
    with pytest.raises(InvalidScopeError, match="neither a task state store nor"):
        _ = from_context({}).task_store


def test_compare_and_set_is_emulated_on_airflows_asset_store() -> None:
    accessor = AssetAccessor()
    store = from_context({"asset_state_store": accessor}).asset_store()
    assert isinstance(store, AirflowAssetStore)
    assert store.compare_and_set("w", None, {"c": 1}) is True
    assert store.compare_and_set("w", None, {"c": 2}) is False
    assert store.compare_and_set("w", {"c": 9}, {"c": 2}) is False
    assert store.compare_and_set("w", {"c": 1}, {"c": 2}) is True
    assert accessor.data == {"w": {"c": 2}}
    with pytest.raises(InvalidValueError):
        store.compare_and_set("w", {"c": 2}, None)  # type: ignore[arg-type]


def test_compare_and_set_is_emulated_on_airflows_task_store() -> None:
    from airflow.sdk import NEVER_EXPIRE as AIRFLOW_NEVER_EXPIRE

    accessor = Accessor()
    store = from_context({"task_state_store": accessor, "ti": TI}).task_store
    assert isinstance(store, AirflowTaskStore)
    assert store.compare_and_set("claim", None, 1, retention=NEVER_EXPIRE) is True
    assert store.compare_and_set("claim", None, 2) is False
    assert store.compare_and_set("claim", 1, 2, retention=timedelta(hours=1)) is True
    assert accessor.data == {"claim": 2}
    assert accessor.retentions[0] is AIRFLOW_NEVER_EXPIRE
    assert accessor.retentions[1] == timedelta(hours=1)
    with pytest.raises(InvalidRetentionError):
        store.compare_and_set("claim", 2, 3, retention=timedelta(0))
    assert accessor.data == {"claim": 2}
    assert asyncio.run(store.acompare_and_set("claim", 2, 4)) is True


def test_assets_are_found_by_name_among_the_tasks_real_accessors() -> None:
    from airflow.sdk import Asset
    from airflow.sdk.execution_time.context import AssetStateStoreAccessors

    accessors = AssetStateStoreAccessors([Asset("orders")], [Asset("payments")])
    stores = from_context({"task_state_store": Accessor(), "asset_state_store": accessors})
    assert repr(stores.asset_store("orders")).startswith("AirflowAssetStore(<AssetState")
    assert stores.asset_store(Asset("payments")).asset == "payments"
    with pytest.raises(InvalidScopeError, match="'refunds' is not among this task's inlets"):
        stores.asset_store("refunds")
    with pytest.raises(InvalidScopeError, match="2 assets: name the one"):
        stores.asset_store()


def test_async_twins_share_the_sync_path() -> None:
    import asyncio

    accessor = Accessor()
    store = from_context({"task_state_store": accessor}).task_store
    assert isinstance(store, AirflowTaskStore)

    async def main() -> Any:
        await store.aset("k", 1, retention=NEVER_EXPIRE)
        value = await store.aget("k")
        await store.adelete("k")
        return value

    assert asyncio.run(main()) == 1 and accessor.data == {}

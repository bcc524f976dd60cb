"""``store_client.airflow.StoreBackend`` called as Airflow 3.3.2 calls it, on SQLite and PostgreSQL.

Airflow's own scope classes (the server's ``airflow.state`` ones and the worker's
``airflow.sdk.state`` ones) are passed in, as Airflow's execution API and task accessors
pass them; the backend is loaded through Airflow's own loaders. Runs in DAGs are in
``tests/airflow``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from store_client import ConfigurationError, InvalidKeyError, TaskScope, connect
from store_client._airflow_refs import ref_for, scope_of_ref, unwrap, value_key
from tests.support import import_airflow_sdk

import_airflow_sdk()

from airflow import state as server  # noqa: E402
from airflow.sdk import state as worker  # noqa: E402

from store_client.airflow import StoreBackend, store_url  # noqa: E402

SERVER_TASK = server.TaskScope("dag", "run", "task", 2)
WORKER_TASK = worker.TaskScope("dag", "run", "task", 2)
OURS = TaskScope("dag", "run", "task", 2)
BIG = {"rows": ["x" * 1000] * 300}  # about 300 KiB of JSON


@pytest.fixture
def backend(persistent_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreBackend]:
    monkeypatch.setenv("RESUMABLE_STORE_URL", persistent_url)
    made = StoreBackend()
    yield made
    made.client.close()


def test_one_class_is_both_sides_and_airflow_loads_it(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Any) -> None:
    assert issubclass(StoreBackend, server.BaseStoreBackend)
    assert issubclass(StoreBackend, worker.BaseStoreBackend)
    monkeypatch.setenv("AIRFLOW__STATE_STORE__BACKEND", "store_client.airflow.StoreBackend")
    from airflow.configuration import conf

    assert server.resolve_state_backend() is StoreBackend
    assert conf.get("state_store", "backend") == "store_client.airflow.StoreBackend"


def test_without_a_store_url_the_first_call_says_what_to_set(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESUMABLE_STORE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__RESUMABLE__STORE_URL", raising=False)
    with pytest.raises(ConfigurationError, match=r"RESUMABLE_STORE_URL or \[resumable\]"):
        StoreBackend().get(SERVER_TASK, "k")
    monkeypatch.setenv("AIRFLOW__RESUMABLE__STORE_URL", "memory://")
    assert store_url() == "memory://"


def test_server_side_values_are_ours_to_read(backend: StoreBackend, persistent_url: str) -> None:
    expires = datetime.now(timezone.utc) + timedelta(days=3)
    backend.set(SERVER_TASK, "job_id", json.dumps({"b": 1, "a": [1, 2]}), expires_at=expires)
    backend.set(SERVER_TASK, "forever", json.dumps("x"))
    assert backend.get(SERVER_TASK, "job_id") == '{"a":[1,2],"b":1}'  # canonical JSON
    assert backend.get(SERVER_TASK, "absent") is None
    with connect(persistent_url) as client:
        assert client.task_store(OURS).items() == {"job_id": {"a": [1, 2], "b": 1},
                                                   "forever": "x"}
    backend.delete(SERVER_TASK, "job_id")
    backend.delete(SERVER_TASK, "absent")  # a no-op
    assert backend.get(SERVER_TASK, "job_id") is None
    backend.set(server.TaskScope("dag", "run", "task", 5), "k", "1")
    backend.clear(SERVER_TASK)
    assert backend.get(SERVER_TASK, "forever") is None
    assert backend.get(server.TaskScope("dag", "run", "task", 5), "k") == "1"
    backend.clear(SERVER_TASK, all_map_indices=True)
    assert backend.get(server.TaskScope("dag", "run", "task", 5), "k") is None


def test_a_server_asset_id_is_looked_up_to_its_name(backend: StoreBackend) -> None:
    class Session:
        def scalar(self, _query: Any) -> str:
            return "orders"

    backend.set(server.AssetScope(asset_id=7), "watermark", "41", session=Session())
    assert backend.client.asset_store("orders").get("watermark") == 41


def test_worker_side_values_of_any_size_go_to_our_store(backend: StoreBackend) -> None:
    ref = backend.serialize_task_state_store_to_ref(value=BIG, key="pages", scope=WORKER_TASK)
    assert ref == ref_for(OURS, "pages") == backend.serialize_task_state_store_to_ref(
        value=BIG, key="pages", scope=WORKER_TASK)  # deterministic
    assert len(ref) < 100
    assert backend.deserialize_task_state_store_from_ref(ref) == BIG
    assert backend.client.backend.get(OURS, value_key("pages"), now=_now()) is not None
    asset_ref = backend.serialize_asset_state_store_to_ref(
        value=[1, 2], key="cursor", scope=worker.AssetScope(name="orders"))
    assert backend.deserialize_asset_state_store_from_ref(asset_ref) == [1, 2]
    backend.delete(WORKER_TASK, "pages")  # the worker deletes its value, not a server row
    assert backend.deserialize_task_state_store_from_ref(ref) is None


def test_both_sides_on_the_reference_does_not_overwrite_the_value(
        backend: StoreBackend) -> None:
    ref = backend.serialize_task_state_store_to_ref(value=BIG, key="pages", scope=WORKER_TASK)
    expires = datetime.now(timezone.utc) + timedelta(hours=6)
    wrapped = json.dumps({"__airflow_state_ref__": ref})  # what Airflow's server receives
    backend.set(SERVER_TASK, "pages", wrapped, expires_at=expires)
    assert unwrap(backend.get(SERVER_TASK, "pages") or "") == ref
    assert backend.deserialize_task_state_store_from_ref(ref) == BIG
    store = backend.client.backend
    rows = {key: store.get(OURS, key, now=expires - timedelta(seconds=1))
            for key in ("pages", value_key("pages"))}
    assert all(rows.values())
    assert all(store.get(OURS, key, now=expires) is None for key in rows)  # both expire
    backend.clear(WORKER_TASK)  # the worker's values only
    assert backend.get(SERVER_TASK, "pages") is not None
    assert backend.deserialize_task_state_store_from_ref(ref) is None


def test_async_twins_share_the_sync_path(backend: StoreBackend) -> None:
    async def scenario() -> tuple[str | None, str | None]:
        await backend.aset(SERVER_TASK, "k", json.dumps(1))
        first = await backend.aget(SERVER_TASK, "k")
        await backend.adelete(SERVER_TASK, "k")
        await backend.aclear(SERVER_TASK)
        return first, await backend.aget(SERVER_TASK, "k")

    assert asyncio.run(scenario()) == ("1", None)


def test_cleanup_honours_the_batch_size_and_keeps_never_expiring_rows(
        backend: StoreBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__STATE_STORE__STATE_CLEANUP_BATCH_SIZE", "2")
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    for i in range(5):
        backend.set(SERVER_TASK, f"old{i}", "1", expires_at=past)
    backend.set(SERVER_TASK, "kept", "1")
    assert backend.expired_cleanup().count == 5
    assert backend.client.task_store(OURS).items() == {"kept": 1}


@pytest.mark.parametrize("scope", [OURS, TaskScope("d/a g", "r%1", "t", -1)])
def test_references_round_trip(scope: TaskScope) -> None:
    for key in ("k", "a/b c%", "é"):
        assert scope_of_ref(ref_for(scope, key)) == (scope, key)


@pytest.mark.parametrize("bad", ["", "s3://bucket/x", "resumable:task/a/b", "resumable:x/y",
                                 "resumable:task/d/r/t/notint/k"])
def test_a_foreign_reference_is_refused_by_name(bad: str) -> None:
    with pytest.raises(InvalidKeyError, match="not a reference"):
        scope_of_ref(bad)


def _now() -> datetime:
    return datetime.now(timezone.utc)

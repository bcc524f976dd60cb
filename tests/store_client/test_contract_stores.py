"""Contract: task and asset store semantics, identical on every backend."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from store_client import (
    NEVER_EXPIRE,
    AssetScope,
    InvalidRetentionError,
    InvalidValueError,
    RetentionTypeError,
    StoreClient,
    TaskScope,
    connect,
)
from tests.support.clock import FakeClock

SCOPE = TaskScope("dag", "run", "task")


def test_get_set_delete(client: StoreClient) -> None:
    ts = client.task_store(SCOPE)
    assert ts.get("k") is None
    assert ts.get("k", default="d") == "d"
    ts.set("k", 1)
    ts.set("k", 2)
    assert ts.get("k") == 2
    ts.delete("k")
    ts.delete("k")  # absent: not an error
    assert ts.get("k", 0) == 0
    assert ts.items() == {}


def test_falsy_values_are_present(client: StoreClient) -> None:
    ts = client.task_store(SCOPE)
    for key, value in {"zero": 0, "empty": "", "false": False, "list": []}.items():
        ts.set(key, value)
        assert ts.get(key, default="absent") == value


def test_scopes_are_isolated(client: StoreClient) -> None:
    scopes = [SCOPE, TaskScope("dag", "run", "other"), TaskScope("dag", "run2", "task"),
              TaskScope("dag2", "run", "task")]
    for i, scope in enumerate(scopes):
        client.task_store(scope).set("k", i)
    client.asset_store("k").set("k", "asset")
    assert [client.task_store(s).get("k") for s in scopes] == [0, 1, 2, 3]
    assert client.asset_store("k").get("k") == "asset"


def test_map_indices_are_isolated(client: StoreClient) -> None:
    stores = {i: client.task_store(TaskScope("dag", "run", "task", i)) for i in (-1, 0, 1, 2)}
    other = client.task_store(TaskScope("dag", "run", "other", 0))
    for i, store in stores.items():
        store.set("k", i)
    other.set("k", "other")
    assert {i: s.items() for i, s in stores.items()} == {i: {"k": i} for i in stores}
    stores[1].clear()
    assert stores[1].items() == {}
    assert stores[0].get("k") == 0 and stores[2].get("k") == 2 and stores[-1].get("k") == -1
    stores[0].clear(all_map_indices=True)
    assert all(s.items() == {} for s in stores.values())
    assert other.get("k") == "other"


def test_expired_values_are_invisible_before_cleanup(client: StoreClient,
                                                     clock: FakeClock) -> None:
    ts = client.task_store(SCOPE)
    ts.set("hour", 1, retention=timedelta(hours=1))
    ts.set("never", 2, retention=NEVER_EXPIRE)
    ts.set("default", 3)
    clock.advance(timedelta(minutes=59))
    assert ts.items() == {"hour": 1, "never": 2, "default": 3}
    clock.advance(timedelta(minutes=1))
    assert ts.get("hour") is None
    assert ts.get("hour", "gone") == "gone"
    assert ts.items() == {"never": 2, "default": 3}
    clock.advance(timedelta(days=30) - timedelta(hours=1) - timedelta(seconds=1))
    assert ts.get("default") == 3
    clock.advance(timedelta(seconds=1))
    assert ts.items() == {"never": 2}
    clock.advance(timedelta(days=36500))
    assert ts.items() == {"never": 2}


def test_rewriting_an_expired_key_revives_it(client: StoreClient, clock: FakeClock) -> None:
    ts = client.task_store(SCOPE)
    ts.set("k", 1, retention=timedelta(seconds=1))
    clock.advance(timedelta(seconds=2))
    ts.set("k", 2, retention=timedelta(seconds=10))
    assert ts.get("k") == 2


def test_default_retention_days_setting(store_url: str, clock: FakeClock) -> None:
    with connect(store_url, default_retention_days=2, clock=clock) as client:
        ts = client.task_store(SCOPE)
        ts.set("k", 1)
        clock.advance(timedelta(days=2))
        assert ts.get("k") is None
    with connect(store_url, default_retention_days=0, clock=clock) as client:
        ts = client.task_store(SCOPE)
        ts.set("k", 1)
        clock.advance(timedelta(days=100_000))
        assert ts.get("k") == 1


def test_asset_store_basics(client: StoreClient, clock: FakeClock) -> None:
    assets = client.asset_store(AssetScope(name="orders"))
    assets.set("cursor", "2026-01-01")
    assets.set("other", [1])
    clock.advance(timedelta(days=3650))
    assert assets.items() == {"cursor": "2026-01-01", "other": [1]}
    assets.delete("other")
    assert assets.get("other") is None
    assets.clear()
    assert assets.items() == {}


def test_asset_identity_is_name_else_uri(client: StoreClient) -> None:
    client.asset_store(AssetScope(name="orders", uri="s3://b/orders")).set("k", 1)
    assert client.asset_store("orders").get("k") == 1
    assert client.asset_store(AssetScope(uri="s3://b/orders")).get("k") is None
    client.asset_store(AssetScope(uri="s3://b/orders")).set("k", 2)
    assert client.asset_store("orders").get("k") == 1


def test_compare_and_set(client: StoreClient) -> None:
    assets = client.asset_store("orders")
    assert assets.compare_and_set("c", None, 1) is True
    assert assets.compare_and_set("c", None, 2) is False
    assert assets.compare_and_set("c", 5, 2) is False
    assert assets.get("c") == 1
    assert assets.compare_and_set("c", 1, {"b": 1, "a": [2]}) is True
    assert assets.compare_and_set("c", {"a": [2], "b": 1}, "x") is True  # key order irrelevant
    assert assets.compare_and_set("c", "x", "x") is True
    assert assets.compare_and_set("c", True, "y") is False  # JSON true is not "x"
    assert assets.get("c") == "x"
    assets.delete("c")
    assert assets.compare_and_set("c", "x", "z") is False
    assert assets.compare_and_set("c", None, "z") is True
    assert client.asset_store("other").get("c") is None


def test_compare_and_set_distinguishes_json_types(client: StoreClient) -> None:
    assets = client.asset_store("orders")
    assets.set("c", 1)
    assert assets.compare_and_set("c", True, 2) is False
    assert assets.compare_and_set("c", "1", 2) is False
    assert assets.compare_and_set("c", 1, 2) is True


def test_async_twins(client: StoreClient) -> None:
    async def scenario() -> None:
        ts = client.task_store(SCOPE)
        await ts.aset("k", {"a": 1}, retention=NEVER_EXPIRE)
        await ts.aset("j", 2)
        assert await ts.aget("k") == {"a": 1}
        assert await ts.aget("missing", default=7) == 7
        await ts.adelete("j")
        assert await ts.aitems() == {"k": {"a": 1}}
        await ts.aclear()
        assert await ts.aitems() == {}
        assets = client.asset_store("orders")
        assert await assets.acompare_and_set("c", None, 1)
        assert not await assets.acompare_and_set("c", None, 1)
        await assets.aset("d", 4)
        assert await assets.aitems() == {"c": 1, "d": 4}
        await assets.adelete("d")
        await assets.aclear()
        assert await assets.aget("c") is None
        results = await asyncio.gather(*(ts.aset(f"k{i}", i) for i in range(20)))
        assert len(results) == 20 and len(await ts.aitems()) == 20

    asyncio.run(scenario())


def test_async_validation_writes_nothing(client: StoreClient) -> None:
    ts = client.task_store(SCOPE)
    with pytest.raises(ValueError):
        asyncio.run(ts.aset("k", float("nan")))
    with pytest.raises(TypeError):
        asyncio.run(ts.aset("k", 1, retention=60))  # type: ignore[arg-type]
    assert ts.items() == {}


def test_store_survives_reopen(persistent_url: str) -> None:
    with connect(persistent_url) as first:
        first.task_store(SCOPE).set("job_id", "j-1", retention=NEVER_EXPIRE)
        first.asset_store("orders").set("cursor", 42)
    with connect(persistent_url) as second:
        assert second.task_store(SCOPE).get("job_id") == "j-1"
        assert second.asset_store("orders").get("cursor") == 42


def test_wrong_scope_types_are_refused(client: StoreClient) -> None:
    with pytest.raises(ValueError):
        client.task_store(AssetScope(name="x"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        client.asset_store(SCOPE)  # type: ignore[arg-type]


def test_scan_tasks_across_scopes(client: StoreClient, clock: FakeClock) -> None:
    client.task_store(TaskScope("d1", "r", "t")).set("job/a", 1, retention=NEVER_EXPIRE)
    client.task_store(TaskScope("d2", "r", "t", 4)).set("job/b", 2)
    client.task_store(TaskScope("d2", "r", "t", 4)).set("jobs", 3)
    client.task_store(TaskScope("d3", "r", "t")).set("job/c", 4, retention=timedelta(hours=1))
    client.task_store(TaskScope("d3", "r", "t")).set("job%_x", 5)
    client.asset_store("job/asset").set("job/z", 6)
    clock.advance(timedelta(hours=2))
    found = {(e.scope, e.key, e.value) for e in client.scan_tasks("job/")}
    assert found == {(TaskScope("d1", "r", "t"), "job/a", "1"),
                     (TaskScope("d2", "r", "t", 4), "job/b", "2")}
    assert [e.key for e in client.scan_tasks("job%")] == ["job%_x"]  # wildcards are literal
    assert all(e.updated_at.tzinfo is not None for e in client.scan_tasks(""))


def test_compare_and_set_on_task_stores(client: StoreClient, clock: FakeClock) -> None:
    ts = client.task_store(TaskScope("d", "r", "t"))
    other = client.task_store(TaskScope("d", "r", "t", 0))
    assert ts.compare_and_set("claim", None, {"try": 1}, retention=timedelta(hours=1))
    assert not ts.compare_and_set("claim", None, {"try": 2})  # claimed already
    assert other.compare_and_set("claim", None, "mapped")  # map indices are separate
    assert not ts.compare_and_set("claim", {"try": 2}, {"try": 3})
    assert ts.compare_and_set("claim", {"try": 1}, {"try": 3}, retention=timedelta(hours=1))
    assert ts.get("claim") == {"try": 3}
    clock.advance(timedelta(hours=2))  # expired: absent, for get and for the claim alike
    assert ts.get("claim") is None
    assert not ts.compare_and_set("claim", {"try": 3}, {"try": 4})
    assert ts.compare_and_set("claim", None, {"try": 5}, retention=NEVER_EXPIRE)
    clock.advance(timedelta(days=3650))
    assert ts.get("claim") == {"try": 5}
    assert client.cleanup().count == 1  # the mapped claim (30 days); NEVER_EXPIRE stays
    assert ts.get("claim") == {"try": 5} and other.get("claim") is None


def test_task_compare_and_set_checks_before_writing(client: StoreClient) -> None:
    ts = client.task_store(TaskScope("d", "r", "t"))
    with pytest.raises(InvalidValueError):
        ts.compare_and_set("k", None, float("nan"))
    with pytest.raises(RetentionTypeError):
        ts.compare_and_set("k", None, 1, retention=5)  # type: ignore[arg-type]
    with pytest.raises(InvalidRetentionError):
        ts.compare_and_set("k", None, 1, retention=timedelta(0))
    assert ts.items() == {}


def test_task_compare_and_set_async(client: StoreClient) -> None:
    ts = client.task_store(TaskScope("d", "r", "t"))

    async def race() -> list[bool]:
        return list(await asyncio.gather(*(ts.acompare_and_set("k", None, i)
                                            for i in range(5))))

    assert sorted(asyncio.run(race())) == [False] * 4 + [True]

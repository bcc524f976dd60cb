"""from_context over minimal accessors: fakes offering only ``get(key)`` and ``set(key, value)``.

Airflow's own tests, and many users', fake the task state store this way. The wrappers read
what the accessor offers once, when made, and adapt: ``default`` is only passed to a ``get``
taking it, ``retention`` only to a ``set`` taking it, a missing ``delete`` writes None over a
held value, and a missing ``clear`` is a named ``StoreBackendError``.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import MagicMock, call, create_autospec

import pytest

from store_client import (
    NEVER_EXPIRE,
    InvalidKeyError,
    InvalidRetentionError,
    InvalidValueError,
    StoreBackendError,
    from_context,
)
from store_client._airflow_context import TASK_KEYS, AirflowAssetStore, AirflowTaskStore


class FakeTaskState:
    """The fake the brief quotes: only ``get(key)`` and ``set(key, value)``."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self._store = stored or {}

    def get(self, key: str) -> Any:
        return self._store.get(key)

    def set(self, key: str, value: Any) -> None:
        self._store[key] = value


class RecordingFake(FakeTaskState):
    """The same interface, recording every call it receives."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        super().__init__(stored)
        self.calls: list[tuple[Any, ...]] = []

    def get(self, key: str) -> Any:
        self.calls.append(("get", key))
        return super().get(key)

    def set(self, key: str, value: Any) -> None:
        self.calls.append(("set", key, value))
        super().set(key, value)


class DefaultGetNoRetentionSet(RecordingFake):
    """``get`` takes a default; ``set`` takes no retention."""

    def get(self, key: str, default: Any = None) -> Any:
        self.calls.append(("get", key, default))
        return self._store.get(key, default)


class KwargsSet(RecordingFake):
    """``set`` takes ``**kwargs``: retention is passed through it."""

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        self.calls.append(("set", key, value, kwargs))
        self._store[key] = value


class PositionalRetentionSet(RecordingFake):
    """``retention`` a positional-or-keyword parameter: still passed by keyword."""

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.calls.append(("set", key, value, retention))
        self._store[key] = value


class DeleteNoClear(RecordingFake):
    def delete(self, key: str) -> None:
        self.calls.append(("delete", key))
        self._store.pop(key, None)


def task_store(accessor: Any) -> AirflowTaskStore:
    store = from_context({"task_state_store": accessor}).task_store
    assert isinstance(store, AirflowTaskStore)
    return store


# --- the brief's FakeTaskState -------------------------------------------------------------


@pytest.mark.parametrize("name", TASK_KEYS)
def test_a_get_set_only_object_is_taken_as_airflows_accessor(name: str) -> None:
    fake = FakeTaskState()
    stores = from_context({name: fake})
    store = stores.task_store
    assert isinstance(store, AirflowTaskStore) and stores.scope is None
    assert repr(store).startswith("AirflowTaskStore(<")
    store.set("k", {"a": [1, 2]})
    assert fake._store == {"k": {"a": [1, 2]}}
    assert store.get("k") == {"a": [1, 2]}


def test_get_returns_the_default_for_an_absent_key() -> None:
    fake = RecordingFake({"k": 0, "f": False, "e": ""})
    store = task_store(fake)
    assert store.get("missing") is None
    assert store.get("missing", "dflt") == "dflt"
    # falsy values are values, not absence
    assert store.get("k", 9) == 0 and store.get("f", 9) is False and store.get("e", 9) == ""
    assert fake.calls == [("get", "missing"), ("get", "missing"), ("get", "k"), ("get", "f"),
                          ("get", "e")]


def test_set_writes_exactly_the_value_and_never_passes_retention() -> None:
    fake = RecordingFake()
    store = task_store(fake)
    store.set("a", 1)
    store.set("b", [1, "x"], retention=timedelta(hours=1))
    store.set("c", {"n": None}, retention=NEVER_EXPIRE)
    assert fake.calls == [("set", "a", 1), ("set", "b", [1, "x"]), ("set", "c", {"n": None})]
    assert fake._store == {"a": 1, "b": [1, "x"], "c": {"n": None}}


@pytest.mark.parametrize(("call_", "error"), [
    (lambda s: s.set("k", 1, retention=timedelta(0)), InvalidRetentionError),
    (lambda s: s.set("k", 1, retention=timedelta(seconds=-1)), InvalidRetentionError),
    (lambda s: s.set("k", 1, retention=5), TypeError),
    (lambda s: s.set("", 1), InvalidKeyError),
    (lambda s: s.set("k", None), InvalidValueError),
    (lambda s: s.get(""), InvalidKeyError),
    (lambda s: s.delete(""), InvalidKeyError),
])
def test_validation_still_runs_before_a_minimal_accessor_sees_anything(
        call_: Any, error: type[Exception]) -> None:
    fake = RecordingFake()
    with pytest.raises(error):
        call_(task_store(fake))
    assert fake.calls == [] and fake._store == {}


def test_delete_without_a_delete_method_writes_none_over_a_held_value_only() -> None:
    fake = RecordingFake({"k": 1, "other": 2})
    store = task_store(fake)
    store.delete("k")
    assert fake.calls == [("get", "k"), ("set", "k", None)]
    assert fake._store == {"k": None, "other": 2}  # the key stays, with a null value
    assert store.get("k") is None and store.get("k", "dflt") == "dflt"
    fake.calls.clear()
    store.delete("k")  # already null: nothing written
    store.delete("absent")  # absent: nothing written, not even a null
    assert fake.calls == [("get", "k"), ("get", "absent")]
    assert fake._store == {"k": None, "other": 2}


def test_compare_and_set_works_through_the_minimal_interface() -> None:
    fake = RecordingFake()
    store = task_store(fake)
    assert store.compare_and_set("claim", None, 1, retention=NEVER_EXPIRE) is True
    assert store.compare_and_set("claim", None, 2) is False
    assert store.compare_and_set("claim", 9, 2) is False
    assert store.compare_and_set("claim", 1, {"v": 2}, retention=timedelta(hours=1)) is True
    assert fake._store == {"claim": {"v": 2}}
    store.delete("claim")
    assert fake._store == {"claim": None}
    # a null left by delete reads as absent
    assert store.compare_and_set("claim", {"v": 2}, 3) is False
    assert store.compare_and_set("claim", None, 3) is True
    assert fake._store == {"claim": 3}
    assert [c for c in fake.calls if c[0] == "set"] == [
        ("set", "claim", 1), ("set", "claim", {"v": 2}), ("set", "claim", None),
        ("set", "claim", 3)]
    with pytest.raises(InvalidRetentionError):
        store.compare_and_set("claim", 3, 4, retention=timedelta(0))
    assert fake._store == {"claim": 3}


def test_clear_without_a_clear_method_is_a_named_backend_error() -> None:
    fake = RecordingFake({"k": 1})
    store = task_store(fake)
    with pytest.raises(StoreBackendError, match=r"RecordingFake has no clear\(\)") as info:
        store.clear()
    assert "task state store" in str(info.value)
    with pytest.raises(StoreBackendError, match="all_map_indices"):
        store.clear(all_map_indices=True)
    with pytest.raises(StoreBackendError, match="cannot list"):
        store.items()
    assert fake._store == {"k": 1} and fake.calls == []


def test_async_twins_adapt_the_same_way() -> None:
    fake = RecordingFake()
    store = task_store(fake)

    async def main() -> tuple[Any, ...]:
        await store.aset("k", 1, retention=NEVER_EXPIRE)
        first = await store.aget("k")
        won = await store.acompare_and_set("k", 1, 2)
        await store.adelete("k")
        after = await store.aget("k", "gone")
        with pytest.raises(StoreBackendError, match="no clear"):
            await store.aclear()
        return first, won, after

    assert asyncio.run(main()) == (1, True, "gone")
    assert fake._store == {"k": None}


def test_what_the_minimal_accessor_raises_is_still_translated() -> None:
    class Failing(FakeTaskState):
        def get(self, key: str) -> Any:
            raise RuntimeError("comms down")

    store = task_store(Failing({"k": 1}))
    with pytest.raises(StoreBackendError, match="comms down"):
        store.get("k")
    with pytest.raises(StoreBackendError, match="comms down"):
        store.delete("k")  # the delete fallback reads first
    with pytest.raises(StoreBackendError, match="comms down"):
        store.compare_and_set("k", 1, 2)


def test_signatures_are_read_once_per_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    real = inspect.signature

    def counting(obj: Any, *args: Any, **kwargs: Any) -> inspect.Signature:
        seen.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(inspect, "signature", counting)
    fake = RecordingFake()
    store = task_store(fake)
    assert len(seen) == 2  # get and set, at construction
    for i in range(5):
        store.set("k", i, retention=timedelta(hours=1))
        store.get("k", 0)
        store.compare_and_set("k", i, i + 1)
    store.delete("k")
    assert len(seen) == 2


# --- variants --------------------------------------------------------------------------------


def test_get_with_a_default_but_set_without_retention() -> None:
    fake = DefaultGetNoRetentionSet({"k": 1})
    store = task_store(fake)
    assert store.get("k") == 1 and store.get("absent", "dflt") == "dflt"
    store.set("n", 2, retention=NEVER_EXPIRE)
    store.delete("k")
    assert fake.calls == [("get", "k", None), ("get", "absent", "dflt"), ("set", "n", 2),
                          ("get", "k", None), ("set", "k", None)]
    assert fake._store == {"k": None, "n": 2}


def test_a_set_with_kwargs_gets_retention_and_airflows_own_never_expire() -> None:
    from airflow.sdk import NEVER_EXPIRE as AIRFLOW_NEVER_EXPIRE

    fake = KwargsSet()
    store = task_store(fake)
    store.set("a", 1)
    store.set("b", 2, retention=timedelta(minutes=5))
    store.set("c", 3, retention=NEVER_EXPIRE)
    assert fake.calls[0] == ("set", "a", 1, {"retention": None})
    assert fake.calls[1] == ("set", "b", 2, {"retention": timedelta(minutes=5)})
    assert fake.calls[2][3]["retention"] is AIRFLOW_NEVER_EXPIRE
    assert fake._store == {"a": 1, "b": 2, "c": 3}


def test_a_positional_or_keyword_retention_parameter_is_passed() -> None:
    fake = PositionalRetentionSet()
    task_store(fake).set("k", 1, retention=timedelta(hours=2))
    assert fake.calls == [("set", "k", 1, timedelta(hours=2))]


def test_a_store_with_delete_but_no_clear() -> None:
    fake = DeleteNoClear({"k": 1, "j": 2})
    store = task_store(fake)
    store.delete("k")
    store.delete("absent")
    assert fake.calls == [("delete", "k"), ("delete", "absent")]
    assert fake._store == {"j": 2}  # really deleted, no null left behind
    with pytest.raises(StoreBackendError, match=r"DeleteNoClear has no clear\(\)"):
        store.clear()
    assert fake._store == {"j": 2}


class VarargsGet(FakeTaskState):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    def get(self, key: str, *args: Any) -> Any:
        self.calls.append((key, *args))
        return self._store.get(key, *args)


class PositionalOnlyGet(VarargsGet):
    def get(self, key: str, dflt: Any = None, /) -> Any:
        self.calls.append((key, dflt))
        return self._store.get(key, dflt)


@pytest.mark.parametrize("cls", [VarargsGet, PositionalOnlyGet])
def test_a_get_taking_a_second_positional_gets_the_default(cls: type[VarargsGet]) -> None:
    fake = cls()
    assert task_store(fake).get("absent", "dflt") == "dflt"
    assert fake.calls == [("absent", "dflt")]


def test_a_keyword_only_default_is_not_passed_positionally() -> None:
    calls: list[tuple[Any, ...]] = []

    class KeywordDefault(FakeTaskState):
        def get(self, key: str, *, default: Any = None) -> Any:
            calls.append((key, default))
            return self._store.get(key, default)

    assert task_store(KeywordDefault()).get("absent", "dflt") == "dflt"
    assert calls == [("absent", None)]


def test_an_unreadable_signature_counts_as_the_full_interface() -> None:
    class Opaque:
        __signature__ = "not a signature"  # inspect.signature raises TypeError

        def __init__(self, fn: Any) -> None:
            self.fn = fn

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return self.fn(*args, **kwargs)

    seen: list[tuple[Any, ...]] = []

    def get(*args: Any) -> Any:
        seen.append(("get", *args))
        return "v"

    accessor = SimpleNamespace(get=Opaque(get),
                               set=Opaque(lambda *a, **k: seen.append(("set", *a, k))))
    store = task_store(accessor)
    assert store.get("k", "dflt") == "v"
    store.set("k", 1)
    assert seen == [("get", "k", "dflt"), ("set", "k", 1, {"retention": None})]


def test_a_magicmock_accessor_gets_the_full_interface() -> None:
    from airflow.sdk import NEVER_EXPIRE as AIRFLOW_NEVER_EXPIRE

    mock = MagicMock()
    mock.get.return_value = {"c": 1}
    stores = from_context({"task_state_store": mock})
    store = stores.task_store
    assert isinstance(store, AirflowTaskStore) and stores.scope is None
    assert store.get("k", "dflt") == {"c": 1}
    store.set("k", 1, retention=NEVER_EXPIRE)
    store.delete("k")
    store.clear()
    assert store.compare_and_set("k", {"c": 1}, 2) is True
    assert mock.get.call_args_list == [call("k", "dflt"), call("k", None)]
    assert mock.set.call_args_list == [call("k", 1, retention=AIRFLOW_NEVER_EXPIRE),
                                       call("k", 2, retention=None)]
    mock.delete.assert_called_once_with("k")
    mock.clear.assert_called_once_with()


def test_an_autospecced_minimal_fake_is_read_as_minimal() -> None:
    mock = create_autospec(FakeTaskState, instance=True)
    mock.get.return_value = None
    store = task_store(mock)
    assert store.get("k", "dflt") == "dflt"
    store.set("k", 1, retention=timedelta(hours=1))
    mock.get.assert_called_once_with("k")
    mock.set.assert_called_once_with("k", 1)
    with pytest.raises(StoreBackendError, match="no clear"):
        store.clear()


# --- the asset side --------------------------------------------------------------------------


class FakeAssetState(RecordingFake):
    """A minimal asset accessor: only ``get(key)`` and ``set(key, value)``."""


@pytest.mark.parametrize("asset", [None, "orders"])
def test_a_minimal_asset_accessor(asset: str | None) -> None:
    fake = FakeAssetState({"old": 1})
    store = from_context({"asset_state_store": fake}).asset_store(asset)
    assert isinstance(store, AirflowAssetStore) and store.asset == asset
    assert store.get("w") is None and store.get("w", 0) == 0
    store.set("w", {"cursor": 10})
    assert store.compare_and_set("w", {"cursor": 10}, {"cursor": 20}) is True
    assert store.compare_and_set("w", {"cursor": 10}, {"cursor": 30}) is False
    assert store.compare_and_set("new", None, 1) is True
    store.delete("old")
    store.delete("absent")
    assert fake._store == {"old": None, "w": {"cursor": 20}, "new": 1}
    assert store.get("old", "gone") == "gone"
    assert [c for c in fake.calls if c[0] == "set"] == [
        ("set", "w", {"cursor": 10}), ("set", "w", {"cursor": 20}), ("set", "new", 1),
        ("set", "old", None)]
    with pytest.raises(StoreBackendError, match=r"asset state store.*FakeAssetState has no "
                                                r"clear\(\)"):
        store.clear()
    with pytest.raises(StoreBackendError, match="no clear"):
        asyncio.run(store.aclear())
    with pytest.raises(InvalidValueError):
        store.set("w", float("nan"))
    assert fake._store["w"] == {"cursor": 20}


def test_a_minimal_asset_accessor_names_its_asset_in_errors() -> None:
    store = from_context({"asset_state_store": FakeAssetState()}).asset_store("orders")
    with pytest.raises(StoreBackendError, match="'orders'"):
        store.clear()

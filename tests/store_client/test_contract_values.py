"""Contract: every bad key, value and retention is refused, and nothing is written."""

from __future__ import annotations

import copy
import math
import pickle
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from store_client import (
    NEVER_EXPIRE,
    InvalidKeyError,
    InvalidRetentionError,
    InvalidValueError,
    RetentionTypeError,
    StoreClient,
    StoreError,
    TaskScope,
    ValueTooLargeError,
    connect,
)

SCOPE = TaskScope("dag", "run", "task")

GOOD_VALUES: list[Any] = [
    "text", "", "ünïcødé ✓", 0, -1, 2**70, 1.5, -0.0, True, False, [], {},
    [1, "a", [2, [3]]], {"a": {"b": [1, {"c": None}]}}, [None], {"next": None},
]

BAD_VALUES: dict[str, Any] = {
    "none": None,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "nan in list": [1, [2, math.nan]],
    "inf in dict": {"a": {"b": math.inf}},
    "-inf deep": {"a": [{"b": [-math.inf]}]},
    "set": {1, 2},
    "frozenset in list": [frozenset()],
    "tuple": (1, 2),
    "bytes": b"x",
    "bytearray in dict": {"a": bytearray(b"x")},
    "datetime": datetime(2026, 1, 1, tzinfo=timezone.utc),
    "date in list": [date(2026, 1, 1)],
    "timedelta": timedelta(1),
    "object": object(),
    "int dict key": {1: "a"},
    "tuple dict key nested": {"a": {(1, 2): "b"}},
    "none dict key": {None: 1},
}

BAD_KEYS: dict[str, Any] = {
    "empty": "", "251 chars": "k" * 251, "int": 1, "none": None, "bytes": b"k",
}

BAD_RETENTION_TYPES: dict[str, Any] = {
    "int": 3600, "float": 1.5, "str": "1h", "bool": True, "datetime": datetime.now(timezone.utc),
}

BAD_RETENTION_VALUES: dict[str, timedelta] = {
    "zero": timedelta(0), "negative": timedelta(seconds=-1),
    "overflows": timedelta.max - timedelta(days=1),
}


@pytest.mark.parametrize("value", GOOD_VALUES, ids=repr)
def test_json_values_round_trip(client: StoreClient, value: Any) -> None:
    ts = client.task_store(SCOPE)
    ts.set("k", value)
    assert ts.get("k") == value
    assert type(ts.get("k")) is type(value)
    assets = client.asset_store("orders")
    assets.set("k", value)
    assert assets.get("k") == value


def test_stored_value_is_a_copy(client: StoreClient) -> None:
    ts = client.task_store(SCOPE)
    value = {"a": [1]}
    ts.set("k", value)
    value["a"].append(2)
    got = ts.get("k")
    assert got == {"a": [1]}
    got["a"].append(3)  # type: ignore[index,union-attr]
    assert ts.get("k") == {"a": [1]}


@pytest.mark.parametrize("name", BAD_VALUES)
def test_bad_values_raise_and_write_nothing(client: StoreClient, name: str) -> None:
    ts = client.task_store(SCOPE)
    assets = client.asset_store("orders")
    ts.set("k", "before")
    assets.set("k", "before")
    with pytest.raises(InvalidValueError) as info:
        ts.set("k", BAD_VALUES[name])
    assert "'k'" in str(info.value)
    with pytest.raises(InvalidValueError):
        ts.set("other", BAD_VALUES[name], retention=NEVER_EXPIRE)
    with pytest.raises(InvalidValueError):
        assets.set("k", BAD_VALUES[name])
    with pytest.raises(InvalidValueError):
        assets.compare_and_set("k", "before", BAD_VALUES[name])
    assert ts.items() == {"k": "before"}
    assert assets.items() == {"k": "before"}


def test_bad_value_is_a_value_error(client: StoreClient) -> None:
    with pytest.raises(ValueError):
        client.task_store(SCOPE).set("k", None)  # type: ignore[arg-type]


def test_error_names_the_offending_part(client: StoreClient) -> None:
    with pytest.raises(InvalidValueError, match=r"set.*\['a'\]\[0\]"):
        client.task_store(SCOPE).set("k", {"a": [{1}]})  # type: ignore[dict-item]
    with pytest.raises(InvalidValueError, match="NaN or infinity"):
        client.task_store(SCOPE).set("k", [math.inf])
    with pytest.raises(InvalidValueError, match="non-string dict key"):
        client.task_store(SCOPE).set("k", {1: 2})  # type: ignore[dict-item]


@pytest.mark.parametrize("name", BAD_KEYS)
def test_bad_keys_raise_and_write_nothing(client: StoreClient, name: str) -> None:
    ts = client.task_store(SCOPE)
    assets = client.asset_store("orders")
    key = BAD_KEYS[name]
    for call in (lambda: ts.set(key, 1), lambda: ts.get(key), lambda: ts.delete(key),
                 lambda: assets.set(key, 1), lambda: assets.get(key),
                 lambda: assets.compare_and_set(key, None, 1)):
        with pytest.raises(InvalidKeyError):
            call()
    assert ts.items() == {}
    assert assets.items() == {}


def test_key_of_250_characters_and_slashes_are_fine(client: StoreClient) -> None:
    ts = client.task_store(SCOPE)
    ts.set("k" * 250, 1)
    ts.set("a/b/c", 2)
    assert ts.items() == {"k" * 250: 1, "a/b/c": 2}


@pytest.mark.parametrize("name", BAD_RETENTION_TYPES)
def test_non_timedelta_retention_is_a_type_error(client: StoreClient, name: str) -> None:
    ts = client.task_store(SCOPE)
    with pytest.raises(TypeError) as info:
        ts.set("k", 1, retention=BAD_RETENTION_TYPES[name])
    assert isinstance(info.value, RetentionTypeError)
    assert not isinstance(info.value, ValueError)
    assert ts.items() == {}


@pytest.mark.parametrize("name", BAD_RETENTION_VALUES)
def test_non_positive_retention_is_a_value_error(client: StoreClient, name: str) -> None:
    ts = client.task_store(SCOPE)
    with pytest.raises(ValueError) as info:
        ts.set("k", 1, retention=BAD_RETENTION_VALUES[name])
    assert isinstance(info.value, InvalidRetentionError)
    assert ts.items() == {}


def test_asset_store_takes_no_retention(client: StoreClient) -> None:
    with pytest.raises(TypeError):
        client.asset_store("orders").set("k", 1, retention=NEVER_EXPIRE)  # type: ignore[call-arg]


def test_never_expire_is_timedelta_max() -> None:
    assert NEVER_EXPIRE is timedelta.max


@pytest.mark.parametrize("make_copy", [copy.deepcopy, lambda v: pickle.loads(pickle.dumps(v))],
                         ids=["deepcopy", "pickle"])
def test_equal_copy_of_never_expire_never_expires(client: StoreClient, clock: Any,
                                                  make_copy: Any) -> None:
    retention = make_copy(NEVER_EXPIRE)
    ts = client.task_store(SCOPE)
    ts.set("k", 1, retention=retention)
    clock.advance(timedelta(days=365 * 50))
    assert ts.get("k") == 1
    assert client.cleanup().count == 0


def test_oversized_value_names_key_size_and_limit(store_url: str) -> None:
    with connect(store_url, max_value_bytes=100) as client:
        ts = client.task_store(SCOPE)
        ts.set("k", "x" * 98)  # 100 bytes with its quotes
        with pytest.raises(ValueTooLargeError) as info:
            ts.set("k", "x" * 99)
        assert (info.value.key, info.value.size, info.value.limit) == ("k", 101, 100)
        assert "'k'" in str(info.value) and "101" in str(info.value)
        with pytest.raises(ValueTooLargeError):
            ts.set("k2", "é" * 50)  # 100 UTF-8 bytes + quotes
        with pytest.raises(ValueTooLargeError):
            client.asset_store("a").set("k", ["x" * 200])
        assert ts.items() == {"k": "x" * 98}
        assert client.asset_store("a").items() == {}


def test_zero_max_value_bytes_means_no_limit(store_url: str) -> None:
    with connect(store_url, max_value_bytes=0) as client:
        ts = client.task_store(SCOPE)
        ts.set("big", "x" * 200_000)
        assert ts.get("big") == "x" * 200_000


def test_default_limit_is_64_kib(client: StoreClient) -> None:
    ts = client.task_store(SCOPE)
    ts.set("k", "x" * (65536 - 2))
    with pytest.raises(ValueTooLargeError):
        ts.set("k", "x" * (65536 - 1))


def test_every_error_is_a_store_error() -> None:
    for exc in (InvalidKeyError, InvalidValueError, ValueTooLargeError, InvalidRetentionError,
                RetentionTypeError):
        assert issubclass(exc, StoreError)


def _nested(depth: int, kind: str) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_deep_nesting_is_named_as_such(client: StoreClient, kind: str) -> None:
    ts = client.task_store(TaskScope("d", "r", "t"))
    ts.set("ok", _nested(100, kind))
    assert ts.get("ok") == _nested(100, kind)
    with pytest.raises(InvalidValueError, match="nests lists and dicts too deeply"):
        ts.set("deep", _nested(5000, kind))
    assert ts.get("deep") is None


def test_a_huge_integer_is_named_as_such(client: StoreClient) -> None:
    ts = client.task_store(TaskScope("d", "r", "t"))
    ts.set("big", 10**4000)
    assert ts.get("big") == 10**4000
    with pytest.raises(InvalidValueError, match="integer of more than 4300 digits") as info:
        ts.set("huge", [1, {"n": 10**5000}])
    assert "NaN" not in str(info.value)
    assert ts.get("huge") is None


@pytest.mark.parametrize(("key", "message"), [
    ("a\x00b", "NUL"), ("\ud800x", "lone surrogate"), ("x" * 251, "251 characters"),
])
def test_keys_no_backend_can_hold_are_refused_everywhere(client: StoreClient, key: str,
                                                        message: str) -> None:
    ts = client.task_store(TaskScope("d", "r", "t"))
    with pytest.raises(InvalidKeyError, match=message):
        ts.set(key, 1)
    with pytest.raises(InvalidKeyError, match=message):
        client.asset_store("a").compare_and_set(key, None, 1)
    assert ts.items() == {} and client.asset_store("a").items() == {}


def test_scan_prefixes_are_case_sensitive_everywhere(client: StoreClient) -> None:
    ts = client.task_store(TaskScope("d", "r", "t"))
    for key in ("Job/a", "job/b", "JOB/c", "jobs_d", "job%e", "job_f"):
        ts.set(key, 1)
    assert sorted(e.key for e in client.scan_tasks("job/")) == ["job/b"]
    assert sorted(e.key for e in client.scan_tasks("Job")) == ["Job/a"]
    assert sorted(e.key for e in client.scan_tasks("job%")) == ["job%e"]
    assert sorted(e.key for e in client.scan_tasks("job_")) == ["job_f"]

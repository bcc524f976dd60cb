"""Property suite: arbitrary keys, scopes and values get the same verdict on every backend.

For each generated case the same calls run on memory, SQLite and a real PostgreSQL: each
is either accepted everywhere and read back equal, or refused everywhere with the same
error type before anything is written (no row exists afterwards on any backend).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from store_client import (
    AssetScope,
    MemoryBackend,
    StoreClient,
    StoreError,
    TaskScope,
    connect,
)
from store_client._sql_schema import asset_state, task_state
from tests.support.postgres import PostgresServer

# Any code point, lone surrogates and NUL included; plus 4-byte characters, so long
# scopes reach PostgreSQL's index-row limit.
ANY_CHAR = st.characters(exclude_categories=())
WIDE_CHAR = st.sampled_from("\U0001d518\u00e9\u4e2d\U0001f600")
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=12),
    st.text(WIDE_CHAR, min_size=200, max_size=260),
    st.text(st.sampled_from("ab/ \x00"), min_size=0, max_size=8),
    st.sampled_from(["", "x" * 250, "x" * 251, "\ud800", "a\x00b", "\U0001d518" * 250]),
)
NAME = st.one_of(TEXT, st.text(WIDE_CHAR, min_size=370, max_size=1600),
                 st.sampled_from(["x" * 1500, "x" * 1501]))
MAP_INDEX = st.one_of(st.integers(-3, 3), st.sampled_from([2**31 - 1, 2**31, 2**63, -2**63]))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(ANY_CHAR, max_size=20), st.sampled_from([10**4000, -(2**64), 2**63, 1e308]))
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.tuples(inner),
                            st.dictionaries(st.text(ANY_CHAR, max_size=5), inner, max_size=3),
                            st.dictionaries(st.integers(0, 3), inner, max_size=2)),
    max_leaves=8)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


VALUE = st.one_of(JSONISH, st.integers(250, 260).map(_deep), st.binary(max_size=4),
                  st.sets(st.integers(), max_size=2))

Outcome = tuple[str, Any]


@pytest.fixture(scope="module")
def clients(postgres_server: PostgresServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, StoreClient]]:
    folder: Path = tmp_path_factory.mktemp("verdicts")
    urls = {"memory": "memory://", "sqlite": f"sqlite:///{folder / 'store.db'}",
            "postgresql": postgres_server.create_database("verdicts")}
    made = {name: connect(url, max_value_bytes=4096) for name, url in urls.items()}
    for client in made.values():  # create the tables
        client.asset_store("setup").set("k", 1)
        client.asset_store("setup").clear()
    yield made
    for client in made.values():
        client.close()


def _rows(client: StoreClient) -> int:
    backend = client.backend
    if isinstance(backend, MemoryBackend):
        return sum(map(len, backend._tasks.values())) + sum(map(len, backend._assets.values()))
    with backend.engine.connect() as conn:  # type: ignore[attr-defined]
        return sum(conn.scalar(select(func.count()).select_from(t)) or 0
                   for t in (task_state, asset_state))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b and type(a) is type(b))


def _verdict(client: StoreClient, act: Callable[[StoreClient], Any]) -> Outcome:
    """('ok', what was read back) or ('refused', error type); refused leaves no row."""
    before = _rows(client)
    try:
        result = act(client)
    except StoreError as exc:
        assert isinstance(exc, (ValueError, TypeError)), repr(exc)
        assert _rows(client) == before, f"{type(exc).__name__} left a row behind"
        return "refused", type(exc).__name__
    return "ok", result


def _check_everywhere(clients: dict[str, StoreClient],
                      act: Callable[[StoreClient], Any]) -> Outcome:
    verdicts = {name: _verdict(client, act) for name, client in clients.items()}
    first = verdicts["memory"]
    for name, verdict in verdicts.items():
        assert (verdict[0] == first[0] and _same(verdict[1], first[1])) or verdict == first, (
            f"{name} gave {verdict!r:.300}, memory gave {first!r:.300}")
    return first


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@SETTINGS
@given(dag=TEXT, run=TEXT, task=TEXT, map_index=MAP_INDEX, key=TEXT)
def test_task_scopes_and_keys(clients: dict[str, StoreClient], dag: Any, run: Any, task: Any,
                              map_index: Any, key: Any) -> None:
    def act(client: StoreClient) -> Any:
        store = client.task_store(TaskScope(dag, run, task, map_index))
        store.set(key, "v")
        try:
            return store.get(key), store.items()
        finally:
            store.delete(key)

    verdict = _check_everywhere(clients, act)
    if verdict[0] == "ok":
        assert verdict[1] == ("v", {key: "v"})


@SETTINGS
@given(name=NAME, key=TEXT, value=VALUE)
def test_asset_scopes_keys_and_values(clients: dict[str, StoreClient], name: Any, key: Any,
                                      value: Any) -> None:
    def act(client: StoreClient) -> Any:
        store = client.asset_store(AssetScope(name=name))
        store.set(key, value)
        try:
            read = store.get(key)
            assert store.compare_and_set(key, read, read)
            return read
        finally:
            store.clear()

    verdict = _check_everywhere(clients, act)
    if verdict[0] == "ok":
        assert _same(verdict[1], value) or verdict[1] == value


@SETTINGS
@given(value=VALUE)
def test_values_on_task_stores(clients: dict[str, StoreClient], value: Any) -> None:
    def act(client: StoreClient) -> Any:
        store = client.task_store(TaskScope("dag", "run", "task"))
        store.set("k", value)
        try:
            return store.get("k")
        finally:
            store.clear()

    _check_everywhere(clients, act)

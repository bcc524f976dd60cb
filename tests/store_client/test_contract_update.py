"""Contract: ``update`` (read, change, write as one step) on every backend, and under load.

On the SQL store the row's lock is taken first, so concurrent updates queue and every one
lands; elsewhere the default is bounded ``compare_and_set`` attempts.
"""

from __future__ import annotations

import asyncio
import textwrap
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import JsonValue

from store_client import (
    InvalidValueError,
    MemoryBackend,
    StoreBackend,
    StoreClient,
    StoreConflictError,
    TaskScope,
    ValueTooLargeError,
    connect,
)
from tests.support.clock import FakeClock
from tests.support.processes import run_together

SCOPE = TaskScope("dag", "run", "task")


def _plus_one(current: JsonValue | None) -> JsonValue:
    return 1 if current is None else int(current) + 1  # type: ignore[arg-type]


def test_update_creates_changes_and_returns_the_stored_value(client: StoreClient) -> None:
    assets = client.asset_store("orders")
    assert assets.update("n", _plus_one) == 1
    assert assets.update("n", _plus_one) == 2
    seen: list[JsonValue | None] = []
    assert assets.update("n", lambda current: seen.append(current)) == 2  # None: keep
    assert seen == [2]
    assert assets.get("n") == 2
    assert assets.update("doc", lambda _: {"b": [1, 2], "a": None}) == {"a": None, "b": [1, 2]}


@pytest.mark.parametrize("bad", [{1, 2}, float("nan"), {"k": object()}])
def test_a_bad_new_value_writes_nothing(client: StoreClient, bad: object) -> None:
    assets = client.asset_store("orders")
    assets.set("n", 1)
    with pytest.raises(InvalidValueError):
        assets.update("n", lambda _: bad)  # type: ignore[arg-type,return-value]
    assert assets.get("n") == 1
    assert assets.update("n", _plus_one) == 2  # the connection is not left in a transaction


def test_a_value_over_the_limit_writes_nothing(store_url: str) -> None:
    with connect(store_url, max_value_bytes=100) as client:
        assets = client.asset_store("orders")
        with pytest.raises(ValueTooLargeError):
            assets.update("n", lambda _: "x" * 200)
        assert assets.get("n") is None
        assert assets.update("n", lambda _: "small") == "small"


def test_an_exception_in_change_writes_nothing_and_propagates(client: StoreClient) -> None:
    assets = client.asset_store("orders")
    assets.set("n", 5)

    def fail(_current: JsonValue | None) -> JsonValue:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        assets.update("n", fail)
    assert assets.get("n") == 5
    assert assets.update("n", _plus_one) == 6


def test_an_expired_task_row_counts_as_absent(client: StoreClient, clock: FakeClock) -> None:
    ts = client.task_store(SCOPE)
    ts.set("n", 41, retention=timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    seen: list[str | None] = []

    def change(current: str | None) -> str:
        seen.append(current)
        return "7"

    expiry = clock() + timedelta(hours=1)
    assert client.backend.update(SCOPE, "n", change, now=clock(), expires_at=expiry) == "7"
    assert seen == [None]
    assert ts.get("n") == 7


def test_update_from_16_threads_loses_nothing(client: StoreClient) -> None:
    assets = client.asset_store("counter")
    threads = [threading.Thread(target=lambda: [assets.update("n", _plus_one)
                                                for _ in range(25)]) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert assets.get("n") == 400


# Each process calls update N times, counting how often its change function ran; with the
# row locked first every change runs exactly once (no lost race, no retry).
WORKER = textwrap.dedent("""
    import sys
    from store_client import connect
    url, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.stdin.readline()
    calls = 0
    def plus_one(current):
        global calls
        calls += 1
        return 1 if current is None else current + 1
    with connect(url) as client:
        assets = client.asset_store("counter")
        results = [assets.update("n", plus_one) for _ in range(n)]
    open(out, "w").write(f"{calls} " + " ".join(map(str, results)))
""")


def test_update_from_16_processes_queues_on_the_row_lock(persistent_url: str,
                                                          tmp_path: Path) -> None:
    processes, each = 16, 30
    connect(persistent_url).asset_store("warmup").set("k", 1)  # the schema exists
    run_together(WORKER, [[persistent_url, str(tmp_path / f"w{i}"), str(each)]
                          for i in range(processes)])
    calls, results = 0, []
    for i in range(processes):
        first, *rest = (tmp_path / f"w{i}").read_text().split()
        calls += int(first)
        results += [int(v) for v in rest]
    total = processes * each
    assert sorted(results) == list(range(1, total + 1))  # every update saw its own turn
    assert calls == total  # and ran its change once: no optimistic retries
    assert connect(persistent_url).asset_store("counter").get("n") == total


class _Optimistic(MemoryBackend):
    """A backend that keeps the default, compare_and_set-based update."""

    update = StoreBackend.update


class _AlwaysLoses(_Optimistic):
    def compare_and_set(self, *args: object, **kwargs: object) -> bool:
        return False


def test_the_default_update_is_compare_and_set_attempts() -> None:
    client = StoreClient(_Optimistic())
    assets = client.asset_store("orders")
    assert assets.update("n", _plus_one) == 1
    assert assets.update("n", lambda _: None) == 1


def test_the_default_update_gives_up_with_a_conflict_after_bounded_attempts() -> None:
    calls: list[datetime] = []
    assets = StoreClient(_AlwaysLoses()).asset_store("orders")

    def change(current: JsonValue | None) -> JsonValue:
        calls.append(datetime.now())
        return 1

    with pytest.raises(StoreConflictError, match="20 compare_and_set attempts"):
        assets.update("n", change)
    assert len(calls) == 20


def test_aupdate_shares_update(client: StoreClient) -> None:
    assets = client.asset_store("orders")

    async def twice() -> list[JsonValue | None]:
        return [await assets.aupdate("n", _plus_one), await assets.aupdate("n", _plus_one)]

    assert asyncio.run(twice()) == [1, 2]

"""Checkpoint, on every backend: what is committed, when it is written, how resume seeks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from resumable import Checkpoint, CheckpointMismatchError, open_checkpoint
from resumable._checkpoint import FlushPolicy
from store_client import InvalidKeyError, InvalidValueError, StoreClient, TaskScope, TaskStore
from tests.support.clock import FakeClock

SCOPE = TaskScope("dag", "run", "task")


@pytest.fixture
def store(client: StoreClient) -> TaskStore:
    return client.task_store(SCOPE)


class Boom(Exception):
    pass


def run_pages(store: TaskStore, pages: Iterator[int] | range, *, fail_at: int | None = None,
              every: int | None = None) -> list[int]:
    """Load pages through a checkpoint; raise Boom at ``fail_at``; return pages done."""
    done: list[int] = []
    with open_checkpoint(store, "pages", every=every) as cp:
        for page in cp.resume(pages):
            if page == fail_at:
                raise Boom(page)
            done.append(page)
    return done


def test_a_retry_resumes_after_the_last_finished_page(store: TaskStore) -> None:
    with pytest.raises(Boom):
        run_pages(store, range(1, 11), fail_at=6)
    assert store.get("pages") == 5  # page 6 raised: never committed
    assert run_pages(store, range(1, 11)) == [6, 7, 8, 9, 10]
    assert store.get("pages") == 10


def test_every_n_writes_in_batches_but_an_exception_writes_what_finished(
        store: TaskStore) -> None:
    writes: list[object] = []
    original = store.set

    def spy(key: str, value: object, **kwargs: object) -> None:
        writes.append(value)
        original(key, value)  # type: ignore[arg-type]

    store.set = spy  # type: ignore[method-assign]
    with pytest.raises(Boom):
        run_pages(store, range(1, 11), every=3, fail_at=8)
    assert writes == [3, 6, 7]  # batches of 3, then the finished page 7 on the way out
    assert run_pages(store, range(1, 11), every=3) == [8, 9, 10]
    assert writes[-1] == 10  # the loop's end always writes the last position


def test_every_seconds_writes_at_the_first_commit_after_the_interval(store: TaskStore) -> None:
    now = [0.0]
    cp = Checkpoint(store, "k", policy=FlushPolicy(every_seconds=10), clock=lambda: now[0])
    cp.commit(1)
    now[0] = 9.9
    cp.commit(2)
    assert store.get("k") is None and cp.pending == 2 and cp.position == 2
    now[0] = 10.0
    cp.commit(3)
    assert store.get("k") == 3 and cp.pending == 0


def test_every_and_every_seconds_together_write_on_whichever_comes_first(
        store: TaskStore) -> None:
    now = [0.0]
    cp = Checkpoint(store, "k", policy=FlushPolicy(every=5, every_seconds=10),
                    clock=lambda: now[0])
    for i in range(4):
        cp.commit(i)
    assert store.get("k") is None
    now[0] = 11
    cp.commit(4)  # 5th commit and past 10 s: written
    assert store.get("k") == 4


def test_resume_finds_the_committed_item_by_key_in_any_order(store: TaskStore) -> None:
    items = [{"id": "c"}, {"id": "a"}, {"id": "b"}, {"id": "d"}]
    store.set("k", "a")
    cp = Checkpoint(store, "k")
    assert [i["id"] for i in cp.resume(items, key=lambda i: i["id"])] == ["b", "d"]
    assert store.get("k") == "d"


def test_resume_matches_tuples_with_the_json_lists_they_were_stored_as(
        store: TaskStore) -> None:
    store.set("k", [2026, 3])
    cp = Checkpoint(store, "k")
    months = [(2026, m) for m in range(1, 6)]
    assert list(cp.resume(months)) == [(2026, 4), (2026, 5)]


def test_a_committed_item_that_vanished_raises_mismatch_and_yields_nothing(
        store: TaskStore) -> None:
    store.set("k", 99)
    cp = Checkpoint(store, "k")
    with pytest.raises(CheckpointMismatchError, match="99") as info:
        list(cp.resume(range(10)))
    assert info.value.position == 99
    assert store.get("k") == 99  # left for the user to inspect or clear


def test_break_does_not_commit_the_item_being_processed(store: TaskStore) -> None:
    with open_checkpoint(store, "k") as cp:
        for page in cp.resume(range(10)):
            if page == 4:
                break
    assert store.get("k") == 3


NEXT_TOKEN = {None: "t1", "t1": "t2", "t2": None}


def ingest_tokens(store: TaskStore, fetched: list[str | None], fail_on: str | None) -> None:
    """Follow next-page tokens from the committed one; raise Boom when fetching ``fail_on``."""
    with open_checkpoint(store, "tokens") as cp:
        token = cp.position
        while True:
            fetched.append(token)
            if token is not None and token == fail_on:
                raise Boom(token)
            token = NEXT_TOKEN[token]
            if token is None:
                return
            cp.commit(token)


def test_manual_commit_with_opaque_tokens(store: TaskStore) -> None:
    fetched: list[str | None] = []
    with pytest.raises(Boom):
        ingest_tokens(store, fetched, fail_on="t2")
    ingest_tokens(store, fetched, fail_on=None)
    assert fetched == [None, "t1", "t2", "t2"]  # the retry started at t2, not at the start


def test_clear_on_success_deletes_the_key_so_a_rerun_starts_over(store: TaskStore) -> None:
    with open_checkpoint(store, "k", clear_on_success=True) as cp:
        list(cp.resume(range(3)))
    assert store.get("k") is None
    with pytest.raises(Boom), open_checkpoint(store, "k", clear_on_success=True) as cp:
        for page in cp.resume(range(3)):
            if page == 2:
                raise Boom
    assert store.get("k") == 1  # a failure keeps its progress for the retry


@pytest.mark.parametrize("position", [None, float("nan"), object()])
def test_a_bad_position_raises_at_commit_and_writes_nothing(store: TaskStore,
                                                           position: object) -> None:
    cp = Checkpoint(store, "k")
    with pytest.raises((InvalidValueError, TypeError)):
        cp.commit(position)
    cp.flush()
    assert store.get("k") is None and cp.pending == 0


def test_resume_with_an_unencodable_item_names_it(store: TaskStore) -> None:
    store.set("k", 1)
    with pytest.raises(TypeError, match="key"):
        list(Checkpoint(store, "k").resume([object()]))
    with pytest.raises(TypeError, match="returned None"):
        list(Checkpoint(store, "j").resume([{"id": None}], key=lambda item: item["id"]))
    assert store.get("j") is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"every": 0}, "every must be an int >= 1, got 0"),
    ({"every": 2.5}, "every must be an int"),
    ({"every": True}, "every must be an int"),
    ({"every_seconds": 0}, "every_seconds must be a number > 0, got 0"),
    ({"every_seconds": -1.0}, "every_seconds"),
    ({"every_seconds": "5"}, "every_seconds"),
])
def test_bad_flush_policies_name_the_parameter(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FlushPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_bad_key_is_refused_before_anything_is_read(store: TaskStore) -> None:
    with pytest.raises(InvalidKeyError):
        open_checkpoint(store, "")


def test_async_resume_over_sync_and_async_iterables(store: TaskStore) -> None:
    async def pages() -> AsyncIterator[int]:
        for page in range(1, 6):
            yield page

    async def main() -> list[int]:
        done: list[int] = []
        async with open_checkpoint(store, "k") as cp:
            async for page in cp.aresume(pages()):
                done.append(page)
                if page == 3:
                    break
        async with open_checkpoint(store, "k") as cp:
            async for page in cp.aresume(range(1, 6)):
                done.append(page)
                await cp.aflush()
        return done

    assert asyncio.run(main()) == [1, 2, 3, 3, 4, 5]
    assert store.get("k") == 5


def test_positions_expire_with_the_default_task_retention(client: StoreClient,
                                                          clock: FakeClock) -> None:
    from datetime import timedelta

    store = client.task_store(SCOPE)
    with open_checkpoint(store, "k") as cp:
        cp.commit({"page": 7, "cursor": "abc"})
    assert Checkpoint(store, "k").position == {"page": 7, "cursor": "abc"}
    clock.advance(timedelta(days=31))
    assert Checkpoint(store, "k").position is None

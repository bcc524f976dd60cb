"""@checkpoint and @watermark as decorators: injection, signatures, stores, sync and async."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from resumable import Checkpoint, NoTaskStoreError, Window, checkpoint, watermark
from resumable._context import current_airflow_context
from resumable._window import State
from store_client import InvalidKeyError, StoreClient, TaskScope, TaskStore, connect

SCOPE = TaskScope("dag", "run", "task")
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def memory() -> Iterator[StoreClient]:
    with connect("memory://") as client:
        yield client


@pytest.fixture
def store(memory: StoreClient) -> TaskStore:
    return memory.task_store(SCOPE)


def test_the_signature_and_annotations_leave_out_the_injected_parameter() -> None:
    @checkpoint()
    def ingest(source: str, cp: Checkpoint, *, limit: int = 10) -> int:
        return limit

    assert str(inspect.signature(ingest)) == "(source: 'str', *, limit: 'int' = 10) -> 'int'"
    assert "cp" not in ingest.__annotations__
    assert ingest.__name__ == "ingest" and ingest.__wrapped__ is not None  # type: ignore[attr-defined]


def test_real_class_annotations_are_found_too() -> None:
    namespace: dict[str, Any] = {"Checkpoint": Checkpoint}
    exec("def f(a, cp: Checkpoint, b=2):\n    return (a, cp.position, b)", namespace)
    wrapped = checkpoint()(namespace["f"])
    assert list(inspect.signature(wrapped).parameters) == ["a", "b"]


def test_positional_and_keyword_calls_bind_around_the_injected_parameter(
        store: TaskStore) -> None:
    @checkpoint(clear_on_success=False)
    def f(a: int, cp: Checkpoint, b: int = 2, *rest: int, **extra: int) -> Any:
        cp.commit(a)
        return a, b, rest, extra

    assert f(1, 3, 4, 5, x=6, task_store=store) == (1, 3, (4, 5), {"x": 6})
    assert store.get("f") == 1
    with pytest.raises(TypeError):
        f(task_store=store)  # missing a: the usual TypeError, before any store access


def test_a_function_without_the_annotated_parameter_is_refused_at_decoration() -> None:
    with pytest.raises(TypeError, match="no parameter annotated Checkpoint"):
        @checkpoint()
        def f(cp: int) -> None: ...

    with pytest.raises(TypeError, match="no parameter annotated Window"):
        @watermark("orders", cursor="ts")
        def g(w: Checkpoint) -> None: ...


def test_generator_functions_are_refused() -> None:
    with pytest.raises(TypeError, match="generator function"):
        @checkpoint()
        def f(cp: Checkpoint) -> Iterator[int]:
            yield 1


def test_decorator_arguments_are_validated_at_decoration() -> None:
    with pytest.raises(ValueError, match="every must be"):
        checkpoint(every=0)
    with pytest.raises(TypeError, match="store= must be a StoreClient"):
        checkpoint(store="sqlite:///x.db")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Airflow Asset or an asset name"):
        watermark(42, cursor="ts")
    with pytest.raises(ValueError, match="on_missing_cursor"):
        watermark("orders", cursor="ts", on_missing_cursor="nope")  # type: ignore[arg-type]


def test_outside_airflow_a_call_without_task_store_says_what_to_pass() -> None:
    @checkpoint()
    def ingest(cp: Checkpoint) -> None: ...

    assert current_airflow_context() is None
    with pytest.raises(NoTaskStoreError, match="task_store="):
        ingest()
    with pytest.raises(TypeError, match="task_store= must be a task store or a TaskScope"):
        ingest(task_store="dag/run/task")


def test_task_store_may_be_a_scope_on_the_decorators_client(memory: StoreClient) -> None:
    @checkpoint(store=memory, clear_on_success=False)
    def ingest(cp: Checkpoint) -> None:
        cp.commit("done")

    ingest(task_store=SCOPE)
    assert memory.task_store(SCOPE).get("ingest") == "done"


def test_a_function_with_its_own_task_store_parameter_keeps_it(store: TaskStore) -> None:
    @checkpoint()
    def f(cp: Checkpoint, task_store: str) -> str:
        return task_store

    with pytest.raises(NoTaskStoreError):
        f(task_store="mine")  # not taken as the checkpoint's store


def test_a_checkpointed_function_resumes_and_clears_on_success(store: TaskStore) -> None:
    seen: list[int] = []

    @checkpoint(key="pages", every=2)
    def ingest(cp: Checkpoint, fail_at: int | None = None) -> int:
        for page in cp.resume(range(1, 8)):
            if page == fail_at:
                raise RuntimeError(page)
            seen.append(page)
        return len(seen)

    with pytest.raises(RuntimeError):
        ingest(fail_at=5, task_store=store)
    assert store.get("pages") == 4
    assert ingest(task_store=store) == 7 and seen == [1, 2, 3, 4, 5, 6, 7]
    assert store.get("pages") is None


def test_async_functions_share_the_same_behaviour(store: TaskStore) -> None:
    @checkpoint(clear_on_success=False)
    async def ingest(cp: Checkpoint, fail_at: int) -> list[int]:
        done = []
        async for page in cp.aresume(range(5)):
            await asyncio.sleep(0)
            if page == fail_at:
                raise RuntimeError(page)
            done.append(page)
        return done

    assert inspect.iscoroutinefunction(ingest)
    with pytest.raises(RuntimeError):
        asyncio.run(ingest(3, task_store=store))
    assert store.get("ingest") == 2
    assert asyncio.run(ingest(-1, task_store=store)) == [3, 4]


def test_inside_an_airflow_task_the_contexts_task_store_is_used(store: TaskStore) -> None:
    from airflow.sdk.execution_time.context import set_current_context

    @checkpoint(clear_on_success=False)
    def ingest(cp: Checkpoint) -> None:
        cp.commit(1)

    with set_current_context({"task_state_store": store}):  # type: ignore[arg-type]
        assert current_airflow_context() is not None
        ingest()
    assert store.get("ingest") == 1


def test_inside_airflow_the_decorators_client_gets_the_task_instances_scope(
        memory: StoreClient) -> None:
    from types import SimpleNamespace

    from airflow.sdk.execution_time.context import set_current_context

    @checkpoint(store=memory, clear_on_success=False)
    def ingest(cp: Checkpoint) -> None:
        cp.commit(1)

    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=3)
    with set_current_context({"ti": ti}):  # type: ignore[arg-type]
        ingest()
    assert memory.task_store(TaskScope("d", "r", "t", 3)).get("ingest") == 1


def orders(*minutes: int) -> list[dict[str, Any]]:
    return [{"id": m, "ts": T0.replace(minute=m)} for m in minutes]


def test_a_watermarked_load_moves_the_cursor_only_when_it_returns(memory: StoreClient) -> None:
    @watermark("orders", cursor="ts", primary_key="id", initial=T0, store=memory)
    def load(window: Window, source: list[dict[str, Any]], fail: bool = False) -> int:
        rows = window.filter(source)
        if fail:
            raise RuntimeError("target down")
        return len(rows)

    assert load(orders(1, 2)) == 2
    with pytest.raises(RuntimeError):
        load(orders(1, 2, 3), fail=True)
    assert State.decode(memory.asset_store("orders").get("watermark")).cursor == T0.replace(
        minute=2)
    assert load(orders(1, 2, 3)) == 1


def test_returned_rows_are_observed_when_the_function_did_not(memory: StoreClient) -> None:
    @watermark("orders", cursor="ts", store=memory)
    def load(window: Window) -> list[dict[str, Any]]:
        return orders(7, 9)

    @watermark("other", cursor="ts", store=memory)
    def lazy(window: Window) -> Iterator[dict[str, Any]]:
        return iter(orders(7))  # not a list: left alone

    load()
    lazy()
    assert State.decode(memory.asset_store("orders").get("watermark")).cursor == \
        T0.replace(minute=9)
    assert memory.asset_store("other").get("watermark") is None


def test_an_airflow_asset_names_the_store_and_asset_store_overrides_it(
        memory: StoreClient) -> None:
    from airflow.sdk import Asset

    @watermark(Asset("orders"), cursor="ts")
    def load(window: Window) -> list[dict[str, Any]]:
        return orders(5)

    load(asset_store=memory.asset_store("orders"))
    assert memory.asset_store("orders").get("watermark") is not None
    with pytest.raises(TypeError, match="asset_store= must be an asset store"):
        load(asset_store=memory.task_store(SCOPE))
    with pytest.raises(ValueError, match=r"store of asset 'payments'.*for 'orders'"):
        load(asset_store=memory.asset_store("payments"))


def test_a_backfill_needs_no_store_at_all() -> None:
    @watermark("orders", cursor="ts", initial=T0, end=T0.replace(minute=5))
    def backfill(window: Window) -> list[dict[str, Any]]:
        return window.filter(orders(0, 4, 5, 6))

    assert [r["id"] for r in backfill()] == [0, 4]


def test_async_watermark(memory: StoreClient) -> None:
    @watermark("orders", cursor="ts", store=memory)
    async def load(window: Window) -> int:
        await asyncio.sleep(0)
        return len(window.filter(orders(3, 4)))

    assert asyncio.run(load()) == 2
    assert State.decode(memory.asset_store("orders").get("watermark")).cursor == \
        T0.replace(minute=4)


def test_inside_airflow_a_watermark_uses_the_tasks_asset_store() -> None:
    from airflow.sdk.execution_time.context import set_current_context

    class Accessor:  # one asset's accessor, shaped like Airflow's
        def __init__(self) -> None:
            self.data: dict[str, Any] = {}

        def get(self, key: str, default: Any = None) -> Any:
            return self.data.get(key, default)

        def set(self, key: str, value: Any) -> None:
            self.data[key] = value

    accessor = Accessor()

    @watermark("orders", cursor="ts")
    def load(window: Window) -> list[dict[str, Any]]:
        return orders(8)

    with set_current_context({"asset_state_store": accessor}):  # type: ignore[arg-type]
        load()
    assert State.decode(accessor.data["watermark"]).cursor == T0.replace(minute=8)


# -- callables other than plain functions ---------------------------------------------

def fetch_pages(source: str, cp: Checkpoint, *, pages: int = 3) -> list[str]:
    """A module-level function to take partials of."""
    done = []
    for page in cp.resume(range(pages)):
        done.append(f"{source}:{page}")
    return done


async def afetch_pages(source: str, cp: Checkpoint, *, pages: int = 3) -> list[str]:
    done = []
    async for page in cp.aresume(range(pages)):
        await asyncio.sleep(0)
        done.append(f"{source}:{page}")
    return done


def test_a_partial_of_a_sync_function_is_keyed_by_the_functions_name(
        store: TaskStore) -> None:
    load = checkpoint(clear_on_success=False)(functools.partial(fetch_pages, "api"))
    assert str(inspect.signature(load)) == "(*, pages: 'int' = 3) -> 'list[str]'"
    assert load.__name__ == "fetch_pages" and "cp" not in load.__annotations__
    assert "source" not in load.__annotations__  # bound by the partial: no parameter now
    assert load(pages=2, task_store=store) == ["api:0", "api:1"]
    assert store.get("fetch_pages") == 1


def test_a_partial_of_an_async_function_is_awaited_and_keyed_the_same_way(
        store: TaskStore) -> None:
    load = checkpoint(clear_on_success=False)(functools.partial(afetch_pages, "api"))
    assert inspect.iscoroutinefunction(load)
    assert asyncio.run(load(task_store=store)) == ["api:0", "api:1", "api:2"]
    assert store.get("afetch_pages") == 2


def test_a_bound_method_is_keyed_by_the_methods_name(store: TaskStore) -> None:
    class Source:
        def __init__(self, name: str) -> None:
            self.name = name

        def load(self, cp: Checkpoint, pages: int) -> list[str]:
            return fetch_pages(self.name, cp, pages=pages)

    load = checkpoint(clear_on_success=False)(Source("db").load)
    assert list(inspect.signature(load).parameters) == ["pages"]
    assert load(2, task_store=store) == ["db:0", "db:1"]
    assert store.get("load") == 1


class Loader:
    """A callable object: no ``__name__``, so its checkpoint needs ``key=``."""

    def __call__(self, cp: Checkpoint, pages: int) -> list[str]:
        return fetch_pages("obj", cp, pages=pages)


class AsyncLoader:
    async def __call__(self, cp: Checkpoint, pages: int) -> list[str]:
        return await afetch_pages("aobj", cp, pages=pages)


def test_a_callable_object_needs_key_and_then_behaves_like_a_function(
        store: TaskStore) -> None:
    with pytest.raises(TypeError, match=r"a .*Loader instance has no name .*pass key="):
        checkpoint()(Loader())
    with pytest.raises(TypeError, match=r"functools.partial\(a .*Loader instance\).*key="):
        checkpoint()(functools.partial(Loader(), pages=1))
    load = checkpoint(key="objects", clear_on_success=False)(Loader())
    assert load.__name__ == "Loader" and list(inspect.signature(load).parameters) == ["pages"]
    assert load(2, task_store=store) == ["obj:0", "obj:1"] and store.get("objects") == 1

    aload = checkpoint(key="async-objects", clear_on_success=False)(AsyncLoader())
    assert inspect.iscoroutinefunction(aload)
    assert asyncio.run(aload(2, task_store=store)) == ["aobj:0", "aobj:1"]
    assert store.get("async-objects") == 1


def test_a_lambda_has_no_stable_name_either() -> None:
    annotated: Any = lambda cp: None  # noqa: E731 (a lambda cannot annotate its parameter)
    annotated.__annotations__ = {"cp": Checkpoint}
    with pytest.raises(TypeError, match=r"<lambda> has no name .*key="):
        checkpoint()(annotated)


def test_a_sync_callable_that_returns_a_coroutine_is_refused_not_marked_done(
        store: TaskStore) -> None:
    class Hidden:
        def __call__(self, cp: Checkpoint) -> Any:
            cp.commit("started")
            return afetch_pages("x", cp)  # async in disguise: nothing awaited it

    load = checkpoint(key="hidden")(Hidden())
    with pytest.raises(TypeError, match="returned coroutine instead of running"):
        load(task_store=store)
    assert store.get("hidden") == "started"  # kept as after a failure: not cleared


def test_a_bad_checkpoint_key_is_refused_at_decoration() -> None:
    with pytest.raises(InvalidKeyError):
        checkpoint(key="")


def test_watermark_accepts_partials_and_callable_objects(memory: StoreClient) -> None:
    def load(source: list[dict[str, Any]], window: Window) -> int:
        return len(window.filter(source))

    class Load:
        async def __call__(self, window: Window) -> int:
            return len(window.filter(orders(6)))

    by_partial = watermark("orders", cursor="ts", store=memory)(
        functools.partial(load, orders(1, 4)))
    assert list(inspect.signature(by_partial).parameters) == [] and by_partial() == 2
    by_object = watermark("orders", cursor="ts", store=memory)(Load())
    assert asyncio.run(by_object()) == 1
    assert State.decode(memory.asset_store("orders").get("watermark")).cursor == \
        T0.replace(minute=6)


def test_clear_on_success_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="clear_on_success must be True or False"):
        checkpoint(clear_on_success="yes")  # type: ignore[arg-type]

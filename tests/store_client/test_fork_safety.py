"""A client created before ``fork`` works in the children and stays usable in the parent.

LocalExecutor and Celery workers fork after the parent imported (and often used) a
store client. The children here are real forked processes, with a wall-clock limit, on a
real PostgreSQL server and a real SQLite file: each writes and reads through the
parent's client while the parent keeps using it too.
"""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from store_client import StoreClient, TaskScope, connect

SCOPE = TaskScope("dag", "run", "task")
CHILDREN = 4
FORK = multiprocessing.get_context("fork")


def _child_work(client: StoreClient, index: int) -> None:
    signal.alarm(30)  # a hang fails the child instead of the whole suite
    store = client.task_store(SCOPE)
    for step in range(20):
        store.set(f"child-{index}", step)
        assert store.get(f"child-{index}") == step
    assert client.asset_store("shared").compare_and_set(f"c{index}", None, index)
    os._exit(0)


def _run_children(client: StoreClient) -> list[int | None]:
    children = [FORK.Process(target=_child_work, args=(client, i)) for i in range(CHILDREN)]
    for child in children:
        child.start()
    store = client.task_store(SCOPE)
    for step in range(20):  # the parent keeps using its connections meanwhile
        store.set("parent", step)
    for child in children:
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
    return [child.exitcode for child in children]


@pytest.mark.parametrize("used_before_fork", [True, False])
def test_forked_children_share_no_connection(persistent_url: str,
                                             used_before_fork: bool) -> None:
    with connect(persistent_url) as client:
        store = client.task_store(SCOPE)
        if used_before_fork:
            store.set("parent", -1)  # a pooled connection now exists in the parent
            assert store.get("parent") == -1
        assert _run_children(client) == [0] * CHILDREN
        values = store.items()
        assert values["parent"] == 19
        assert all(values[f"child-{i}"] == 19 for i in range(CHILDREN))
        assert client.asset_store("shared").items() == {f"c{i}": i for i in range(CHILDREN)}


def test_a_child_of_a_child_works_too(persistent_url: str) -> None:
    with connect(persistent_url) as client:
        client.task_store(SCOPE).set("k", 1)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            signal.alarm(60)
            code = 1
            try:
                code = 0 if _run_children(client) == [0] * CHILDREN else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert client.task_store(SCOPE).get("k") == 1

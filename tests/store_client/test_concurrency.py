"""compare_and_set under real concurrency: 8 processes (SQL) and 16 threads (every backend)."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import pytest

from store_client import StoreClient, TaskScope, connect
from tests.support.processes import run_together

PROCESSES = 8
INCREMENTS = 40

# Each process increments the counter INCREMENTS times with a read + compare_and_set loop,
# and records every value it successfully wrote. No lost update means the final value is
# PROCESSES * INCREMENTS and every value 1..N was written by exactly one process.
WORKER = textwrap.dedent("""
    import sys
    from store_client import TaskScope, connect
    url, out, n, kind = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.stdin.readline()  # start line: every process begins at once
    written = []
    with connect(url) as client:
        assets = (client.asset_store("counter") if kind == "asset"
                  else client.task_store(TaskScope("dag", "run", "task")))
        while len(written) < n:
            current = assets.get("n")
            new = 1 if current is None else current + 1
            if assets.compare_and_set("n", current, new):
                written.append(new)
    open(out, "w").write(" ".join(map(str, written)))
""")


@pytest.mark.parametrize("kind", ["asset", "task"])
def test_compare_and_set_from_8_processes_loses_no_update(persistent_url: str, kind: str,
                                                         tmp_path: Path) -> None:
    connect(persistent_url).asset_store("warmup").set("k", 1)  # create the schema first
    run_together(WORKER, [[persistent_url, str(tmp_path / f"w{i}"), str(INCREMENTS), kind]
                          for i in range(PROCESSES)])
    written = sorted(int(v) for i in range(PROCESSES)
                     for v in (tmp_path / f"w{i}").read_text().split())
    total = PROCESSES * INCREMENTS
    assert written == list(range(1, total + 1))
    client = connect(persistent_url)
    store = (client.asset_store("counter") if kind == "asset"
             else client.task_store(TaskScope("dag", "run", "task")))
    assert store.get("n") == total


def test_compare_and_set_from_16_threads(client: StoreClient) -> None:
    assets = client.asset_store("counter")
    wins: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        done = 0
        while done < 25:
            current = assets.get("n")
            new = 1 if current is None else int(current) + 1  # type: ignore[call-overload]
            if assets.compare_and_set("n", current, new):
                with lock:
                    wins.append(new)
                done += 1

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == list(range(1, 401))
    assert assets.get("n") == 400

"""The DAG ``benchmarks/airflow_side_by_side.py`` runs: one task timing both stores.

For each block size in ``BENCH_BLOCKS`` (comma-separated, in order), the task alternates
blocks of that many calls to Airflow's ``context["task_state_store"]`` and to our SQLite
task store (the file at ``BENCH_STORE_URL``), same key and value, a ``set`` then a
``get`` per call, until each op has ``BENCH_N`` timed calls after ``BENCH_WARMUP``
untimed ones. It writes the nanosecond timings as JSON to ``BENCH_OUT``:
``{"<block>": {"airflow set": [...], "airflow get": [...], "ours set": [...], ...}}``.

What it does not do: compute medians or ratios (``airflow_side_by_side.py`` does), or
run outside ``dag.test()`` of that script (it reads its settings from the environment).
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import dag, get_current_context, task

from store_client import TaskScope, connect


def _timed(call: Any, *args: Any) -> int:
    started = time.perf_counter_ns()
    call(*args)
    return time.perf_counter_ns() - started


def _alternate(stores: dict[str, Any], block: int, warmup: int, n: int) -> dict[str, list[int]]:
    """Alternate blocks of ``block`` set+get calls between ``stores``; timings by "name op"."""
    timings: dict[str, list[int]] = {f"{name} {op}": [] for name in stores
                                     for op in ("set", "get")}
    for start in range(0, warmup + n, block):
        for name, store in stores.items():
            for i in range(start, min(start + block, warmup + n)):
                set_ns = _timed(store.set, "checkpoint", {"page": i})
                get_ns = _timed(store.get, "checkpoint")
                if i >= warmup:
                    timings[f"{name} set"].append(set_ns)
                    timings[f"{name} get"].append(get_ns)
    return timings


@dag(dag_id="resumable_side_by_side", schedule=None,
     start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False)
def side_by_side() -> None:
    @task
    def measure() -> None:
        context = get_current_context()
        ti = context["ti"]
        n, warmup = int(os.environ["BENCH_N"]), int(os.environ["BENCH_WARMUP"])
        blocks = [int(b) for b in os.environ["BENCH_BLOCKS"].split(",")]
        with connect(os.environ["BENCH_STORE_URL"]) as client:
            stores = {"airflow": context["task_state_store"],
                      "ours": client.task_store(TaskScope(ti.dag_id, ti.run_id, ti.task_id))}
            timings = {str(block): _alternate(stores, block, warmup, n) for block in blocks}
        with open(os.environ["BENCH_OUT"], "w") as out:
            json.dump(timings, out)

    measure()


side_by_side()

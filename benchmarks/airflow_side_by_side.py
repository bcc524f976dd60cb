"""Latency of our SQLite task store against Airflow 3.3.2's, side by side in one real task.

What is measured: inside ONE running Airflow task (``dag.test()`` of
``benchmarks/airflow_dags/side_by_side_dag.py`` in a child process with a temporary
``AIRFLOW_HOME``, migrated first), alternating blocks of ``--block`` calls to
``context["task_state_store"]`` (Airflow's own store: the task's supervisor, then
Airflow's execution API and its SQLite metadata DB) and to our SQLite task store (a temp
file, WAL), same key and value (``{"page": i}``), a ``set`` then a ``get`` each: ``--n``
timed calls per store and op after ``--warmup``. Alternating keeps machine load from
falling on one side only; ``--block 1`` alternates call by call, which also hands our
store the CPU caches Airflow's much longer call just cooled (it measures about 3x slower
that way, as a store call right after unrelated heavy work would).

Output: a table (store, op, median, p99) and the ratios Airflow / ours; ``--check`` exits
1 if our ``set`` is not at least 20 times faster. Airflow's figure includes its in-task
machinery by design: that is what a task pays per call.

Run from the repository root::

    .venv/bin/python benchmarks/airflow_side_by_side.py [--n 300] [--warmup 20] [--block 20]
        [--check]
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._table import print_table
from tests.support.airflow_env import AirflowHome, RunSpec, airflow_installed

DAGS = Path(__file__).resolve().parent / "airflow_dags"
TARGET_RATIO = 20.0


def fmt(ns: float) -> str:
    return f"{ns / 1e6:.3f} ms" if ns >= 1e6 else f"{ns / 1e3:.1f} µs"


def p99(values: list[int]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def measure(n: int, warmup: int, block: int) -> dict[str, list[int]]:
    """Run the DAG once and return its raw timings (ns per call, by "store op")."""
    home = AirflowHome(dags_folder=DAGS)
    try:
        print(f"airflow: migrating {home.path}", flush=True)
        home.migrate()
        with tempfile.TemporaryDirectory(prefix="resumable-side-") as tmp:
            out = Path(tmp) / "timings.json"
            print(f"airflow: dag.test() with {warmup} + {n} rounds", flush=True)
            home.run(RunSpec("resumable_side_by_side"), env={
                "BENCH_N": str(n), "BENCH_WARMUP": str(warmup), "BENCH_OUT": str(out),
                "BENCH_BLOCK": str(block),
                "BENCH_STORE_URL": f"sqlite:///{tmp}/ours.db"}, timeout=900)
            timings: dict[str, list[int]] = json.loads(out.read_text())
            return timings
    finally:
        home.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=300, help="timed rounds per operation")
    parser.add_argument("--warmup", type=int, default=20, help="untimed rounds first")
    parser.add_argument("--block", type=int, default=20,
                        help="calls per store before switching to the other (1: call by call)")
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 if our set is not {TARGET_RATIO:g}x faster")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.warmup = 20, 2
    if args.n < 1 or args.warmup < 0 or args.block < 1:
        parser.error("--n and --block must be >= 1, --warmup >= 0")
    if not airflow_installed():
        print("apache-airflow is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    timings = measure(args.n, args.warmup, args.block)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print()
    print(f"apache-airflow {version('apache-airflow')}, python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; {args.n} timed calls per store and op after "
          f"{args.warmup} warm-up calls, in alternating blocks of {args.block}, "
          "inside one running task")
    print_table(("store", "op", "median", "p99"), [
        (*name.split(" "), fmt(medians[name]), fmt(p99(values)))
        for name, values in timings.items()])
    ratios = {op: medians[f"airflow {op}"] / medians[f"ours {op}"] for op in ("set", "get")}
    print()
    print_table(("target", "measured", "goal", "met?"), [
        ("set: Airflow / ours (medians)", f"{ratios['set']:.1f} x", f">= {TARGET_RATIO:g} x",
         "yes" if ratios["set"] >= TARGET_RATIO else "NO"),
        ("get: Airflow / ours (medians)", f"{ratios['get']:.1f} x", "-", "-"),
    ])
    return 1 if args.check and ratios["set"] < TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())

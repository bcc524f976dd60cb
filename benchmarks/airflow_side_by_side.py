"""Latency of our SQLite task store against Airflow 3.3.2's, side by side in one real task.

What is measured: inside ONE running Airflow task (``dag.test()`` of
``benchmarks/airflow_dags/side_by_side_dag.py`` in a child process with a temporary
``AIRFLOW_HOME``, migrated first), calls to ``context["task_state_store"]`` (Airflow's
own store: the task's supervisor, then Airflow's execution API and its SQLite metadata
DB) and to our SQLite task store (a temp file, WAL), same key and value (``{"page": i}``),
a ``set`` then a ``get`` each, in two modes run one after the other in that task:

* blocks of 20: 20 calls to one store, then 20 to the other, and so on;
* call by call (blocks of 1): which also hands our store the CPU caches Airflow's much
  longer call just cooled, as a store call right after unrelated heavy work would.

Each mode makes ``--warmup`` untimed then ``--n`` timed calls per store and op.
Alternating keeps machine load from falling on one side only. Airflow's figure includes
its in-task machinery by design: that is what a task pays per call.

Output: a table (mode, store, op, median, p99) and the ratios Airflow / ours of the
medians. Targets: our ``set`` at least 100x faster than Airflow's in blocks of 20, at
least 35x call by call (``--check`` exits 1 on a miss); ``get`` ratios are reported
without a target. ``--summary FILE`` writes the results as JSON for a runner
(``benchmarks/_summary.py``). Without apache-airflow the script exits 2, or, with
``--summary``, writes one skipped result and exits 0.

What it does not do: measure Airflow's store outside a task, over its REST API, or on
another metadata database than SQLite.

Run from the repository root::

    .venv/bin/python benchmarks/airflow_side_by_side.py [--n 300] [--warmup 20] [--quick]
        [--check] [--summary FILE]
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

from benchmarks._stats import fmt_ns, percentile
from benchmarks._summary import Result, write_summary
from benchmarks._table import print_results, print_table
from tests.support.airflow_env import AirflowHome, RunSpec, airflow_installed

BENCHMARK = "airflow side by side"
DAGS = Path(__file__).resolve().parent / "airflow_dags"
#: block size -> the least Airflow / ours ratio of the set medians
SET_TARGETS = {20: 100.0, 1: 35.0}
MODE = {20: "blocks of 20", 1: "call by call"}

Timings = dict[str, dict[str, list[int]]]  # block -> "store op" -> ns per call


def measure(n: int, warmup: int) -> Timings:
    """Run the DAG once (both modes) and return its raw timings."""
    home = AirflowHome(dags_folder=DAGS)
    try:
        print(f"airflow: migrating {home.path}", flush=True)
        home.migrate()
        with tempfile.TemporaryDirectory(prefix="resumable-side-") as tmp:
            out = Path(tmp) / "timings.json"
            print(f"airflow: dag.test(), {warmup} + {n} calls per store and op in each mode",
                  flush=True)
            home.run(RunSpec("resumable_side_by_side"), env={
                "BENCH_N": str(n), "BENCH_WARMUP": str(warmup), "BENCH_OUT": str(out),
                "BENCH_BLOCKS": ",".join(str(block) for block in SET_TARGETS),
                "BENCH_STORE_URL": f"sqlite:///{tmp}/ours.db"}, timeout=900)
            timings: Timings = json.loads(out.read_text())
            return timings
    finally:
        home.close()


def ratio(timings: dict[str, list[int]], op: str) -> float:
    """Airflow's median over ours for ``op``."""
    return (statistics.median(timings[f"airflow {op}"])
            / statistics.median(timings[f"ours {op}"]))


def results(timings: Timings) -> list[Result]:
    """Per mode: the set ratio with its target, the get ratio without."""
    found = []
    for block, target in SET_TARGETS.items():
        mode = timings[str(block)]
        for op in ("set", "get"):
            got = ratio(mode, op)
            figure = (f"{got:.1f}x ({fmt_ns(statistics.median(mode[f'airflow {op}']))} / "
                      f"{fmt_ns(statistics.median(mode[f'ours {op}']))})")
            measure_name = f"{op}, {MODE[block]}: Airflow / ours (medians)"
            if op == "set":
                found.append(Result(BENCHMARK, measure_name, figure, f">= {target:g}x",
                                    got >= target))
            else:
                found.append(Result(BENCHMARK, measure_name, figure, "-", None))
    return found


def print_report(timings: Timings, n: int, warmup: int, found: list[Result]) -> None:
    print()
    print(f"apache-airflow {version('apache-airflow')}, python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}; per mode {n} timed calls per store and op after "
          f"{warmup} warm-up calls, inside one running task")
    print_table(("mode", "store", "op", "median", "p99"), [
        (MODE[int(block)], *name.split(" "), fmt_ns(statistics.median(values)),
         fmt_ns(percentile(sorted(values), 0.99)))
        for block, mode in timings.items() for name, values in mode.items()])
    print()
    print_results(found)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=300, help="timed calls per store, op, mode")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls first, per mode")
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a set target is missed")
    parser.add_argument("--summary", type=Path, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.warmup = 20, 2
    if args.n < 1 or args.warmup < 0:
        parser.error("--n must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not airflow_installed():
        print("apache-airflow is not installed: pip install -e '.[dev]'", file=sys.stderr)
        if args.summary is None:
            return 2
        targets = ", ".join(f">= {t:g}x {MODE[b]}" for b, t in SET_TARGETS.items())
        write_summary(args.summary, [Result(BENCHMARK, "set: Airflow / ours (medians)",
                                            "skipped: apache-airflow not installed",
                                            targets, None)])
        return 0
    timings = measure(args.n, args.warmup)
    found = results(timings)
    print_report(timings, args.n, args.warmup, found)
    write_summary(args.summary, found)
    return 1 if args.check and any(r.met is False for r in found) else 0


if __name__ == "__main__":
    sys.exit(main())

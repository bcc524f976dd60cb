"""What a checkpoint costs per commit, and what it saves after a crash, against a bare loop.

What is measured:

* Commit overhead with ``every=1``: ``--positions`` calls of ``Checkpoint.commit(i)``
  (each a write to the task store) against the same loop without them, on memory,
  SQLite (a temp file, WAL, ``synchronous=NORMAL``) and PostgreSQL (started by
  ``tests.support.postgres.PostgresServer`` with fsync on, loopback TCP). The per-commit
  figure is the median over ``--repeats`` interleaved (bare, checkpointed) pairs of
  (checkpointed - bare), divided by positions.
* Overhead with ``every=100`` on pages that take 1 ms each (a busy-wait on
  ``perf_counter``, since ``sleep`` overshoots by tens of µs): ``--pages`` pages through
  ``cp.resume``; the median per-pair difference as a percentage of the median bare loop.
  In both tables "ratio" is (median bare + median difference) / median bare.

Timings are wall-clock: other load on the machine inflates them (a busy-wait page that
is preempted past its deadline runs long), so the load average is printed at the start
and the end. Interleaving the pairs keeps a load change from falling on one side only.
* Work redone after a crash: ``benchmarks/_checkpoint_worker.py`` loops over 200 pages
  of 2 ms in a subprocess, appending each finished page to a file with ``O_APPEND``;
  the benchmark SIGKILLs it once the log reaches a random page (seeded), re-runs it to
  completion and counts the pages executed more than once. The bare loop restarts at
  page 1; checkpointed loops (SQLite task store) use ``every`` = 1, 10 and 100.

Output: three tables and a targets table; with ``--check`` the exit status is 1 if a
target is missed: ``every=1`` on SQLite under 0.35 ms per commit, ``every=100`` under 5 %
over the bare loop with 1 ms pages.

Run from the repository root::

    .venv/bin/python benchmarks/checkpoint_overhead.py [--skip-postgres] [--check] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._checkpoint_worker import busy
from benchmarks._table import print_table
from resumable import open_checkpoint
from store_client import TaskScope, connect

WORKER = Path(__file__).resolve().parent / "_checkpoint_worker.py"
SQLITE_COMMIT_TARGET_MS = 0.35
EVERY_100_TARGET_PCT = 5.0
CRASH_PAGES, CRASH_PAGE_MS = 200, 2.0


@contextmanager
def store_urls(skip_postgres: bool) -> Iterator[dict[str, str]]:
    """URLs of an empty memory, SQLite and (unless skipped or missing) PostgreSQL store."""
    with tempfile.TemporaryDirectory(prefix="resumable-bench-") as tmp:
        urls = {"memory": "memory://", "sqlite": f"sqlite:///{tmp}/cp.db"}
        if skip_postgres:
            yield urls
            return
        from tests.support.postgres import PostgresServer, find_pg_bindir

        if find_pg_bindir() is None:
            print("postgresql: skipped, binaries not found", flush=True)
            yield urls
            return
        with PostgresServer(fsync=True) as server:
            yield {**urls, "postgresql": server.url}


def seconds(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def paired(bare: Callable[[], None], checkpointed: Callable[[], None], repeats: int
           ) -> tuple[float, float, float]:
    """(median bare s, median checkpointed s, median of per-pair extra s), runs interleaved.

    Each repeat runs the bare loop then the checkpointed one, so a change in machine load
    hits both; the extra time is the median of the per-pair differences.
    """
    pairs = [(seconds(bare), seconds(checkpointed)) for _ in range(repeats)]
    return (statistics.median(b for b, _ in pairs), statistics.median(c for _, c in pairs),
            statistics.median(c - b for b, c in pairs))


def commit_overhead(url: str, positions: int, repeats: int) -> tuple[float, float, float]:
    """:func:`paired` figures for ``positions`` commits with every=1."""
    with connect(url) as client:
        store = client.task_store(TaskScope("bench", "run", "commit"))

        def bare() -> None:
            for i in range(positions):
                busy(0)
                _ = i

        def checkpointed() -> None:
            with open_checkpoint(store, "pages", every=1) as cp:
                for i in range(positions):
                    busy(0)
                    cp.commit(i)

        checkpointed()  # warm-up: schema, connection pool
        return paired(bare, checkpointed, repeats)


def every_100_overhead(url: str, pages: int, repeats: int) -> tuple[float, float, float]:
    """:func:`paired` figures for ``pages`` 1 ms pages with every=100."""
    with connect(url) as client:
        store = client.task_store(TaskScope("bench", "run", "every100"))

        def bare() -> None:
            for _page in range(pages):
                busy(1.0)

        def checkpointed() -> None:
            with open_checkpoint(store, "pages", every=100, clear_on_success=True) as cp:
                for _page in cp.resume(range(pages)):
                    busy(1.0)

        return paired(bare, checkpointed, repeats)


def crash_trial(every: int, kill_page: int, rng: random.Random, tmp: Path) -> int:
    """Kill the worker at ``kill_page``, re-run it; the number of pages executed twice."""
    log, db = tmp / f"log-{every}-{kill_page}", tmp / f"store-{every}-{kill_page}.db"
    args = [sys.executable, str(WORKER), f"sqlite:///{db}", str(log), str(CRASH_PAGES),
            str(CRASH_PAGE_MS), str(every)]
    proc = subprocess.Popen(args, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_bytes().count(b"\n") >= kill_page:
            break
        time.sleep(0.0005)
    time.sleep(rng.uniform(0, CRASH_PAGE_MS / 1000))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    subprocess.run(args, check=True, timeout=120)
    done = Counter(int(line) for line in log.read_text().split())
    assert set(done) == set(range(1, CRASH_PAGES + 1)), "a page was lost"
    return sum(n - 1 for n in done.values())


def crash_rows(trials: int, seed: int) -> list[tuple[str, ...]]:
    rng = random.Random(seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="resumable-crash-") as tmp:
        results: dict[int, list[int]] = {}
        for every in (0, 1, 10, 100):
            print(f"crash trials: every={every or 'bare'}", flush=True)
            results[every] = [crash_trial(every, rng.randrange(20, CRASH_PAGES - 20), rng,
                                          Path(tmp)) for _ in range(trials)]
        bare = statistics.mean(results[0])
        for every, redone in results.items():
            rows.append(("bare loop" if every == 0 else f"every={every}", str(trials),
                         f"{statistics.mean(redone):.1f}", str(max(redone)),
                         f"{statistics.mean(redone) / bare:.3f}"))
    return rows


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--positions", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8, help="crash trials per setting")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.positions, args.pages, args.repeats, args.trials = 200, 200, 1, 1
    print(f"load average at start: {load()}", flush=True)
    commit, every100 = [], []
    per_commit: dict[str, float] = {}
    overhead: dict[str, float] = {}
    with store_urls(args.skip_postgres) as urls:
        for backend, url in urls.items():
            print(f"{backend}: timing", flush=True)
            bare, cp, extra = commit_overhead(url, args.positions, args.repeats)
            per_commit[backend] = extra / args.positions * 1000
            commit.append((backend, f"{bare / args.positions * 1e6:.2f} µs",
                           f"{cp / args.positions * 1e6:.1f} µs",
                           f"{per_commit[backend] * 1000:.1f} µs",
                           f"{(bare + extra) / bare:.1f} x"))
            bare, cp, extra = every_100_overhead(url, args.pages, args.repeats)
            overhead[backend] = extra / bare * 100
            every100.append((backend, f"{bare:.3f} s", f"{cp:.3f} s",
                             f"{overhead[backend]:+.2f} %", f"{(bare + extra) / bare:.4f}"))
    crashes = crash_rows(args.trials, args.seed)
    print(f"load average at end: {load()}")
    print()
    print(f"every=1: {args.positions} commits; medians of {args.repeats} interleaved "
          "(bare, checkpointed) runs; overhead = median of the per-run differences")
    print_table(("backend", "bare loop / position", "checkpointed / position",
                 "overhead / commit", "ratio"), commit)
    print()
    print(f"every=100: {args.pages} pages of 1 ms (busy-wait); medians of {args.repeats} "
          "interleaved runs; overhead = median difference / median bare loop")
    print_table(("backend", "bare loop", "checkpointed", "overhead", "ratio"), every100)
    print()
    print(f"work redone after one SIGKILL at a random page of {CRASH_PAGES} "
          f"({CRASH_PAGE_MS:g} ms each, SQLite task store, seed {args.seed})")
    print_table(("loop", "trials", "pages redone (mean)", "max", "ratio to bare loop"),
                crashes)
    targets = [("every=1 on SQLite, per commit", f"{per_commit['sqlite']:.3f} ms",
                f"< {SQLITE_COMMIT_TARGET_MS} ms",
                per_commit["sqlite"] < SQLITE_COMMIT_TARGET_MS)]
    targets += [(f"every=100, 1 ms pages, {backend}", f"{value:+.2f} %",
                 f"< {EVERY_100_TARGET_PCT:g} %", value < EVERY_100_TARGET_PCT)
                for backend, value in overhead.items()]
    print()
    print_table(("target", "measured", "goal", "met?"),
                [(name, got, goal, "yes" if ok else "NO") for name, got, goal, ok in targets])
    return 1 if args.check and not all(ok for *_, ok in targets) else 0


if __name__ == "__main__":
    sys.exit(main())

"""What a checkpoint costs per commit, and what it saves after a crash, against a bare loop.

What is measured:

* Commit cost with ``every=1``: ``--positions`` calls of ``Checkpoint.commit(i)`` (each
  a write to the task store) against the same loop without them, and against the raw
  floor: the same loop doing one raw upsert of the checkpoint row per position (the
  statement our SQL store runs, on a plain ``sqlite3`` connection committed after each
  row, or a ``psycopg`` connection in autocommit; ``store_ops.RawStore``, same table
  shape, its own SQLite file or database). Backends: memory, SQLite (a temp file, WAL,
  ``synchronous=NORMAL``) and PostgreSQL (started by
  ``tests.support.postgres.PostgresServer`` with fsync on, loopback TCP). Each of
  ``--repeats`` rounds runs the bare, checkpointed and raw loops in turn; the cost per
  commit is the median over rounds of (loop - bare loop), divided by positions.
* Overhead with ``every=100`` on pages that take 1 ms each (a busy-wait on
  ``perf_counter``, since ``sleep`` overshoots by tens of µs): ``--pages`` pages through
  ``cp.resume``; the median per-pair difference as a percentage of the median bare loop.
  In both tables "ratio" is (median bare + median difference) / median bare.
* Work redone after a crash: ``benchmarks/_checkpoint_worker.py`` loops over 200 pages
  of 2 ms in a subprocess, appending each finished page to a file with ``O_APPEND``;
  the benchmark SIGKILLs it once the log reaches a random page (seeded), re-runs it to
  completion and counts the pages executed more than once. The bare loop restarts at
  page 1; checkpointed loops (SQLite task store) use ``every`` = 1, 10 and 100.

Timings are wall-clock: other load on the machine inflates them (a busy-wait page that
is preempted past its deadline runs long), so the load average is printed at the start
and the end. Interleaving the loops keeps a load change from falling on one side only.

Targets (``--check`` exits 1 if one is missed): a commit with ``every=1`` costs at most
2.2x the raw upsert, on SQLite and on PostgreSQL when it runs; ``every=100`` adds under
5 % to a loop of 1 ms pages. ``--summary FILE`` writes the results as JSON for a runner
(``benchmarks/_summary.py``).

What it does not do: time the crash trials, measure async commits or ``every_seconds``,
or run the crash trials on PostgreSQL.

Run from the repository root::

    .venv/bin/python benchmarks/checkpoint_overhead.py [--skip-postgres] [--check] [--quick]
        [--summary FILE]
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._checkpoint_worker import busy
from benchmarks._postgres import postgres_server
from benchmarks._raw_floor import RawStore, open_raw_postgres, open_raw_sqlite
from benchmarks._stats import load
from benchmarks._summary import Result, write_summary
from benchmarks._table import LABEL, print_table, yes_no
from resumable import open_checkpoint
from store_client import TaskScope, connect

BENCHMARK = "checkpoint"
WORKER = Path(__file__).resolve().parent / "_checkpoint_worker.py"
RAW_RATIO_TARGET = 2.2  # every=1 commit cost / raw upsert cost
EVERY_100_TARGET_PCT = 5.0
CRASH_PAGES, CRASH_PAGE_MS = 200, 2.0
COMMIT_SCOPE = ("bench", "run", "commit", -1)


@dataclass(frozen=True)
class Backend:
    """A store to benchmark: its URL and, for SQL stores, how to open its raw floor."""

    name: str
    url: str
    open_raw: Callable[[], RawStore] | None = None


@contextmanager
def backends(skip_postgres: bool) -> Iterator[list[Backend]]:
    """An empty memory, SQLite and (unless skipped or missing) PostgreSQL store."""
    with tempfile.TemporaryDirectory(prefix="resumable-bench-") as tmp, \
            postgres_server(skip_postgres, []) as server:
        found = [Backend("memory", "memory://"),
                 Backend("sqlite", f"sqlite:///{tmp}/cp.db",
                         lambda: open_raw_sqlite(Path(tmp) / "raw.db", COMMIT_SCOPE))]
        if server is None:
            yield found
            return
        server.create_database("raw")
        yield [*found, Backend("postgresql", server.create_database("ours"),
                               lambda: open_raw_postgres(server.conninfo("raw"),
                                                         COMMIT_SCOPE))]


def seconds(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def rounds(loops: Sequence[Callable[[], None]], repeats: int) -> list[list[float]]:
    """Run every loop once per round, in order, ``repeats`` rounds; seconds per loop.

    Interleaving the loops makes a change in machine load hit all of them.
    """
    runs = [[seconds(loop) for loop in loops] for _ in range(repeats)]
    return [list(column) for column in zip(*runs, strict=True)]


def extra(times: list[float], bare: list[float]) -> float:
    """The median of the per-round differences ``times - bare``."""
    return statistics.median(t - b for t, b in zip(times, bare, strict=True))


@dataclass(frozen=True)
class CommitCost:
    """every=1: the bare loop, the checkpointed one and the raw floor, per position."""

    backend: str
    positions: int
    bare: float  # median seconds of the bare loop
    checkpointed: float  # median seconds of the checkpointed loop
    extra: float  # median (checkpointed - bare) seconds
    raw_extra: float | None  # median (raw - bare) seconds; None: no floor

    @property
    def per_commit_us(self) -> float:
        return self.extra / self.positions * 1e6

    @property
    def raw_us(self) -> float | None:
        return None if self.raw_extra is None else self.raw_extra / self.positions * 1e6

    @property
    def ratio(self) -> float | None:
        return None if self.raw_extra is None else self.extra / self.raw_extra

    def cells(self) -> tuple[str, ...]:
        raw = "-" if self.raw_us is None else f"{self.raw_us:.1f} µs"
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        return (self.backend, f"{self.bare / self.positions * 1e6:.2f} µs",
                f"{self.checkpointed / self.positions * 1e6:.1f} µs",
                f"{self.per_commit_us:.1f} µs", raw, ratio)

    def target(self) -> Target | None:
        if self.ratio is None or self.raw_us is None:
            return None
        return Target(f"every=1 on {LABEL[self.backend]}: commit / raw upsert",
                      f"{self.ratio:.2f}x ({self.per_commit_us:.1f} µs / {self.raw_us:.1f} µs)",
                      f"<= {RAW_RATIO_TARGET:g}x", self.ratio <= RAW_RATIO_TARGET)


@dataclass(frozen=True)
class Target:
    """One line of the targets table, and of the summary."""

    name: str
    measured: str
    goal: str
    met: bool | None

    def result(self) -> Result:
        return Result(BENCHMARK, self.name, self.measured, self.goal, self.met)


def commit_cost(backend: Backend, positions: int, repeats: int) -> CommitCost:
    """every=1: ``positions`` commits, against the bare loop and the raw upserts."""
    raw = backend.open_raw() if backend.open_raw else None
    try:
        with connect(backend.url) as client:
            store = client.task_store(TaskScope(*COMMIT_SCOPE))

            def bare() -> None:
                for i in range(positions):
                    busy(0)
                    _ = i

            def checkpointed() -> None:
                with open_checkpoint(store, "pages", every=1) as cp:
                    for i in range(positions):
                        busy(0)
                        cp.commit(i)

            loops = [bare, checkpointed]
            if raw is not None:
                loops.append(lambda: raw_upserts(raw, positions))
            for loop in loops[1:]:
                loop()  # warm-up: schema, connection, the table's pages
            times = rounds(loops, repeats)
    finally:
        if raw is not None:
            raw.close()
    return CommitCost(backend.name, positions, statistics.median(times[0]),
                      statistics.median(times[1]), extra(times[1], times[0]),
                      extra(times[2], times[0]) if raw is not None else None)


def raw_upserts(raw: RawStore, positions: int) -> None:
    """The raw floor of the checkpointed loop: one upsert of the position per commit."""
    for i in range(positions):
        busy(0)
        raw.upsert("pages", str(i))


def every_100_overhead(url: str, pages: int, repeats: int) -> tuple[float, float, float]:
    """(median bare s, median checkpointed s, median extra s) for ``pages`` 1 ms pages."""
    with connect(url) as client:
        store = client.task_store(TaskScope("bench", "run", "every100"))

        def bare() -> None:
            for _page in range(pages):
                busy(1.0)

        def checkpointed() -> None:
            with open_checkpoint(store, "pages", every=100, clear_on_success=True) as cp:
                for _page in cp.resume(range(pages)):
                    busy(1.0)

        times = rounds([bare, checkpointed], repeats)
    return statistics.median(times[0]), statistics.median(times[1]), extra(times[1], times[0])


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


def crash_trials(trials: int, seed: int) -> dict[int, list[int]]:
    """Pages redone per trial, by ``every`` (0: the bare loop)."""
    rng = random.Random(seed)
    results: dict[int, list[int]] = {}
    with tempfile.TemporaryDirectory(prefix="resumable-crash-") as tmp:
        for every in (0, 1, 10, 100):
            print(f"crash trials: every={every or 'bare'}", flush=True)
            results[every] = [crash_trial(every, rng.randrange(20, CRASH_PAGES - 20), rng,
                                          Path(tmp)) for _ in range(trials)]
    return results


def loop_name(every: int) -> str:
    return "bare loop" if every == 0 else f"every={every}"


def crash_cells(results: dict[int, list[int]]) -> list[tuple[str, ...]]:
    bare = statistics.mean(results[0])
    return [(loop_name(every), str(len(redone)),
             f"{statistics.mean(redone):.1f}", str(max(redone)),
             f"{statistics.mean(redone) / bare:.3f}" if bare else "-")
            for every, redone in results.items()]


def crash_targets(results: dict[int, list[int]]) -> list[Target]:
    """The crash table as figures without a target."""
    return [Target(f"pages redone after a SIGKILL, {loop_name(every)}",
                   f"{statistics.mean(redone):.1f} of {CRASH_PAGES} (mean of {len(redone)})",
                   "-", None)
            for every, redone in results.items()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--positions", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=8, help="crash trials per setting")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smoke-sized run")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--summary", type=Path, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    if args.quick:
        args.positions, args.pages, args.repeats, args.trials = 200, 200, 3, 1
    return args


def print_report(args: argparse.Namespace, commits: list[CommitCost],
                 every100: list[tuple[str, ...]], crashes: dict[int, list[int]],
                 targets: list[Target]) -> None:
    print()
    print(f"every=1: {args.positions} commits; medians of {args.repeats} rounds of (bare, "
          "checkpointed, raw upserts); cost = median of the per-round differences to bare")
    print_table(("backend", "bare loop / position", "checkpointed / position",
                 "cost / commit", "raw upsert / commit", "commit / raw"),
                [cost.cells() for cost in commits])
    print()
    print(f"every=100: {args.pages} pages of 1 ms (busy-wait); medians of {args.repeats} "
          "interleaved runs; overhead = median difference / median bare loop")
    print_table(("backend", "bare loop", "checkpointed", "overhead", "ratio"), every100)
    print()
    print(f"work redone after one SIGKILL at a random page of {CRASH_PAGES} "
          f"({CRASH_PAGE_MS:g} ms each, SQLite task store, seed {args.seed})")
    print_table(("loop", "trials", "pages redone (mean)", "max", "ratio to bare loop"),
                crash_cells(crashes))
    print()
    print_table(("target", "measured", "goal", "met?"),
                [(t.name, t.measured, t.goal, yes_no(t.met))
                 for t in targets if t.met is not None])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"load average at start: {load()}", flush=True)
    commits: list[CommitCost] = []
    every100: list[tuple[str, ...]] = []
    targets: list[Target] = []
    with backends(args.skip_postgres) as stores:
        for backend in stores:
            print(f"{backend.name}: timing", flush=True)
            commits.append(commit_cost(backend, args.positions, args.repeats))
            bare, cp, extra_s = every_100_overhead(backend.url, args.pages, args.repeats)
            pct = extra_s / bare * 100
            every100.append((backend.name, f"{bare:.3f} s", f"{cp:.3f} s", f"{pct:+.2f} %",
                             f"{(bare + extra_s) / bare:.4f}"))
            targets.append(Target(f"every=100, 1 ms pages, {backend.name}", f"{pct:+.2f} %",
                                  f"< {EVERY_100_TARGET_PCT:g} %", pct < EVERY_100_TARGET_PCT))
    targets = [t for cost in commits if (t := cost.target()) is not None] + targets
    crashes = crash_trials(args.trials, args.seed)
    print(f"load average at end: {load()}")
    print_report(args, commits, every100, crashes, targets)
    write_summary(args.summary, [t.result() for t in targets + crash_targets(crashes)])
    return 1 if args.check and any(t.met is False for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())

"""The store client against the raw database floor, measured side by side in one run.

What is measured:

* Per-call latency of three operations through the public API, on each backend, and of
  the same statements on a raw driver connection (the floor): ``set`` (task store; one
  checkpoint key overwritten with ``{"page": i}``; raw: ``INSERT ... ON CONFLICT DO
  UPDATE`` then commit), ``get`` (that key; raw: ``SELECT value`` by the five key
  columns and ``expires_at IS NULL OR expires_at > now``) and ``compare_and_set``
  (asset store, successful increments ``i -> i + 1``; raw: ``UPDATE ... WHERE value =
  expected RETURNING key`` then commit). Ours and raw run INTERLEAVED in blocks of
  100 calls (ours, raw, ours, ...), so a change in machine load falls on both;
  each call is wrapped in ``time.perf_counter_ns``; per side ``--warmup`` calls are
  untimed, then ``--n`` timed; the table gives medians, our p99 (nearest rank), and
  ours / raw of the medians (``benchmarks/_latency.py``). The raw floor
  (``benchmarks/_raw_floor.py``) is a plain ``sqlite3`` connection on its own temp
  file (``journal_mode=WAL``, ``synchronous=NORMAL``) or a ``psycopg`` connection with
  ``autocommit=True`` to its own database on the same PostgreSQL server; tables of the
  same shape as ours, the same JSON texts, datetimes as ours stores them. The raw side
  does no validation, no JSON encoding or decoding and no retry: that is what "ours"
  adds to the floor.
* ``client.cleanup(batch_size=10_000)`` on a SQLite store seeded with
  ``--cleanup-rows`` expired task rows (plus 1,000 rows that never expire, which must
  survive). Seeding bypasses the API (``tests/store_client/bulk.py``) and is not timed.
  The longest batch is timed from the start of one batch's ``DELETE`` to the start of
  the next (``benchmarks/_cleanup.py``), so it includes the commit. With
  ``--cleanup-pg`` the same on PostgreSQL (no target).

Backends: ``memory://`` (absolute targets, no floor); SQLite in temp files; PostgreSQL
started by ``tests.support.postgres.PostgresServer`` with fsync on, loopback TCP (the
settings really in force are printed).

Targets: ours / raw median <= 2.0 on SQLite and <= 1.3 on PostgreSQL for each op;
memory medians < 10 µs; cleanup of 1,000,000 rows on SQLite < 15 s.

What it does not do: measure writers contending for one key (``contention.py``),
Airflow (``airflow_side_by_side.py``), threads, async calls, or a remote database. It
is a report: exit 0 unless something crashes; ``--check`` exits 1 if a measured target
is missed. ``--summary FILE`` writes the results as JSON for a runner
(``benchmarks/_summary.py``).

Run from the repository root::

    .venv/bin/python benchmarks/store_ops.py [--quick] [--n 5000] [--cleanup-rows N]
        [--cleanup-pg] [--skip-postgres] [--check] [--summary FILE]
"""

from __future__ import annotations

import argparse
import platform
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._cleanup import CLEANUP_BATCH, LIVE_SCOPE, seed_expired, timed_cleanup
from benchmarks._latency import (
    Latency,
    latency,
    our_calls,
    postgres_latency,
    sqlite_latency,
)
from benchmarks._postgres import postgres_server
from benchmarks._stats import BLOCK, load
from benchmarks._summary import Result, write_summary
from benchmarks._table import LABEL, missed_line, print_table, yes_no
from store_client import connect

BENCHMARK = "store ops"
FULL = {"n": 5000, "warmup": 500, "cleanup_rows": 1_000_000}
QUICK = {"n": 500, "warmup": 100, "cleanup_rows": 100_000}
CLEANUP_TARGET_ROWS = 1_000_000  # the cleanup target is stated for this many rows
CLEANUP_TARGET_S = 15.0
LIVE_ROWS = 1_000  # rows that never expire, seeded next to the expired ones


@dataclass(frozen=True)
class Cleanup:
    """One timed cleanup of ``rows`` expired rows."""

    backend: str
    rows: int
    seconds: float
    batches: int
    longest: float | None  # seconds; None when the batches were not seen

    @property
    def has_target(self) -> bool:
        return self.backend == "sqlite" and self.rows == CLEANUP_TARGET_ROWS

    @property
    def met(self) -> bool | None:
        return self.seconds < CLEANUP_TARGET_S if self.has_target else None

    @property
    def mean(self) -> float:
        return self.seconds / self.batches

    @property
    def batch_text(self) -> str:
        if self.longest is None:
            return f"mean batch {self.mean * 1000:.1f} ms"
        return f"longest batch {self.longest * 1000:.1f} ms, mean {self.mean * 1000:.1f} ms"

    def cells(self) -> tuple[str, ...]:
        longest = "-" if self.longest is None else f"{self.longest * 1000:.1f} ms"
        return (self.backend, f"{self.rows:,}", f"{self.seconds:.2f} s", str(self.batches),
                longest, f"{self.mean * 1000:.1f} ms",
                f"< {CLEANUP_TARGET_S:g} s" if self.has_target else "-", yes_no(self.met))

    def result(self) -> Result:
        return Result(BENCHMARK, f"{LABEL[self.backend]} cleanup of {self.rows:,} expired rows "
                      f"(batches of {CLEANUP_BATCH:,})", f"{self.seconds:.2f} s "
                      f"({self.batch_text})",
                      f"< {CLEANUP_TARGET_S:g} s" if self.has_target else "-", self.met)


def cleanup_run(backend: str, url: str, rows: int) -> Cleanup:
    """Seed ``rows`` expired task rows (and LIVE_ROWS live ones), time one cleanup; the
    live rows must all survive."""
    print(f"  {backend} cleanup: seeding {rows:,} expired + {LIVE_ROWS:,} live rows",
          flush=True)
    seed_expired(url, rows, live=LIVE_ROWS)
    timing = timed_cleanup(url, rows)
    with connect(url) as client:
        live = client.task_store(LIVE_SCOPE).items()
    if len(live) != LIVE_ROWS:
        raise RuntimeError(f"cleanup left {len(live)} live rows (expected {LIVE_ROWS})")
    run = Cleanup(backend, rows, timing.seconds, timing.batches, timing.longest)
    print(f"    cleanup(batch_size={CLEANUP_BATCH:,}): {run.seconds:.2f} s, {run.batch_text}",
          flush=True)
    return run


def print_report(notes: list[str], lines: list[Latency], cleanups: list[Cleanup]) -> None:
    print()
    for note in notes:
        print(note)
    print()
    print(f"latency: ours and the raw floor interleaved in blocks of {BLOCK} calls; medians")
    print_table(("backend", "op", "ours median", "ours p99", "raw median", "ours / raw",
                 "target", "met?"), [line.cells() for line in lines])
    if cleanups:
        print()
        print(f"cleanup(batch_size={CLEANUP_BATCH:,}) of expired rows ({LIVE_ROWS:,} live rows "
              "kept); a batch runs from its DELETE's start to the next one's")
        print_table(("backend", "rows", "total", "batches", "longest batch", "mean batch",
                     "target", "met?"), [c.cells() for c in cleanups])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help=f"a short run (defaults {QUICK} instead of {FULL})")
    parser.add_argument("--n", type=int, help="timed calls per op, backend and side")
    parser.add_argument("--warmup", type=int, help="untimed calls per side before each op")
    parser.add_argument("--cleanup-rows", type=int,
                        help="expired rows to seed for the cleanup benchmark (0: skip it)")
    parser.add_argument("--cleanup-pg", action="store_true",
                        help="also time cleanup on PostgreSQL")
    parser.add_argument("--skip-postgres", action="store_true", help="do not run PostgreSQL")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if any measured target is missed")
    parser.add_argument("--summary", type=Path, help="write the results to this JSON file")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.n < 1 or args.warmup < 0 or args.cleanup_rows < 0:
        parser.error("--n must be >= 1; --warmup and --cleanup-rows >= 0")
    return args


def measure(args: argparse.Namespace, notes: list[str]) -> tuple[list[Latency], list[Cleanup]]:
    """Every latency line (memory, SQLite, PostgreSQL) and every cleanup run."""
    print("memory: timing", flush=True)
    with connect("memory://") as client:
        lines = latency("memory", our_calls(client), None, args.n, args.warmup)
    cleanups: list[Cleanup] = []
    with tempfile.TemporaryDirectory(prefix="resumable-bench-") as name, \
            postgres_server(args.skip_postgres, notes) as server:
        tmp = Path(name)
        lines += sqlite_latency(tmp, args.n, args.warmup, notes)
        if server is not None:
            lines += postgres_latency(server, args.n, args.warmup, notes)
        if args.cleanup_rows:
            cleanups.append(cleanup_run("sqlite", f"sqlite:///{tmp}/cleanup.db",
                                        args.cleanup_rows))
            if server is not None and args.cleanup_pg:
                cleanups.append(cleanup_run("postgresql", server.create_database("cleanup"),
                                            args.cleanup_rows))
    return lines, cleanups


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_load = load()
    notes = [f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
             f"{platform.machine()}, n={args.n}, warm-up={args.warmup}"]
    lines, cleanups = measure(args, notes)
    notes.append(f"load average at start: {started_load}; at end: {load()}")
    print_report(notes, lines, cleanups)
    found = [line.result() for line in lines] + [cleanup.result() for cleanup in cleanups]
    write_summary(args.summary, found)
    print()
    print(missed_line(found))
    return 1 if args.check and any(r.met is False for r in found) else 0


if __name__ == "__main__":
    sys.exit(main())

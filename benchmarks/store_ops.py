"""Latency and cleanup benchmark of the store client on memory, SQLite and PostgreSQL.

What is measured:

* Per-call latency of three operations through the public API, on each backend:
  ``set`` (task store; one checkpoint key overwritten with ``{"page": i}``, the
  in-task pattern), ``get`` (that existing key) and ``compare_and_set`` (asset store;
  successful increments ``expected=i, new=i+1``). Each single call is wrapped in
  ``time.perf_counter_ns``; after a warm-up (``--warmup`` calls, untimed) ``--n``
  calls are timed and their median and p99 (nearest rank) reported.
* ``client.cleanup(batch_size=10_000)`` on a SQLite store seeded with
  ``--cleanup-rows`` expired task rows (plus 1,000 rows that never expire, which must
  survive). Seeding bypasses the API (``tests/store_client/bulk.py``) and is not timed;
  the store is reopened by a fresh client before the timed cleanup. With
  ``--cleanup-pg`` the same is done on PostgreSQL.

Backends: ``memory://``; SQLite in a temporary file with the production settings the
backend applies itself (WAL, ``synchronous=NORMAL``; checked and printed); PostgreSQL
started by ``tests.support.postgres.PostgresServer`` with fsync on, over loopback TCP
(``fsync`` is checked and printed). Every operation is a full client call: validation,
JSON encoding, a pooled connection, one transaction.

Output: one plain-text table ``backend | op | median | p99 | target | met?`` and the
ratio of Airflow 3.3.2's in-task ``set`` (7.5 ms median, measured inside a running
Airflow 3.3.2 task on this kind of machine; a constant here, not re-measured) to our
SQLite ``set`` median. The script is a report: it exits 0 unless something crashes;
with ``--check`` it exits 1 if a measured target is missed (skipped rows do not count).

Run from the repository root::

    .venv/bin/python benchmarks/store_ops.py [--n 5000] [--cleanup-rows 1000000]
        [--cleanup-pg] [--skip-postgres] [--check]
"""

from __future__ import annotations

import argparse
import gc
import math
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from benchmarks._table import print_table
from store_client import StoreClient, TaskScope, connect
from store_client._sql import SqlBackend
from tests.store_client.bulk import bulk_put

AIRFLOW_SET_MEDIAN_NS = 7_500_000  # Airflow 3.3.2 in-task set median (constant)
AIRFLOW_MIN_SPEEDUP = 20.0
CLEANUP_BATCH = 10_000
CLEANUP_TARGET_ROWS = 1_000_000  # the cleanup target is stated for this many rows
LIVE_ROWS = 1_000  # rows that never expire, seeded next to the expired ones

# (backend, op) -> (limit in ns, inclusive?, the target as stated)
LATENCY_TARGETS: dict[tuple[str, str], tuple[int, bool, str]] = {
    ("memory", "set"): (10_000, False, "median < 10 µs"),
    ("memory", "get"): (10_000, False, "median < 10 µs"),
    ("memory", "compare_and_set"): (10_000, False, "median < 10 µs"),
    ("sqlite", "set"): (350_000, True, "median <= 0.35 ms"),
    ("postgresql", "set"): (1_000_000, False, "median < 1 ms"),
    ("postgresql", "get"): (1_000_000, False, "median < 1 ms"),
    ("postgresql", "compare_and_set"): (1_000_000, False, "median < 1 ms"),
}
CLEANUP_TARGET_S = 15.0


@dataclass(frozen=True)
class Row:
    """One line of the result table."""

    backend: str
    op: str
    median: str
    p99: str
    target: str
    met: bool | None  # None: no target
    median_ns: float | None = None


def fmt_ns(ns: float) -> str:
    """A duration in µs below 1 ms, else in ms."""
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    return f"{ns / 1_000_000:.3f} ms"


def percentile(sorted_ns: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return sorted_ns[rank - 1]


def time_calls(call: Callable[[int], object], n: int, warmup: int) -> list[int]:
    """Run ``call(i)`` ``warmup`` times untimed, then ``n`` times timed; return ns, sorted."""
    for i in range(warmup):
        call(i)
    gc.collect()
    samples: list[int] = []
    clock = time.perf_counter_ns
    for i in range(warmup, warmup + n):
        start = clock()
        call(i)
        samples.append(clock() - start)
    samples.sort()
    return samples


def latency_rows(backend: str, client: StoreClient, n: int, warmup: int) -> list[Row]:
    """Time set, get and compare_and_set on one client; one table row each."""
    ts = client.task_store(TaskScope("bench_dag", "run_1", "extract"))
    assets = client.asset_store("orders")
    ts.set("checkpoint", {"page": -1})
    if not assets.compare_and_set("watermark", None, 0):
        raise RuntimeError("could not create the compare_and_set counter")

    def do_set(i: int) -> None:
        ts.set("checkpoint", {"page": i})

    def do_get(_i: int) -> None:
        if ts.get("checkpoint") is None:
            raise RuntimeError("get: the checkpoint key is missing")

    def do_cas(i: int) -> None:
        if not assets.compare_and_set("watermark", i, i + 1):
            raise RuntimeError(f"compare_and_set({i} -> {i + 1}) failed")

    rows: list[Row] = []
    for op, call in (("set", do_set), ("get", do_get), ("compare_and_set", do_cas)):
        print(f"  {backend} {op}: {warmup} warm-up + {n} timed calls", flush=True)
        samples = time_calls(call, n, warmup)
        median = statistics.median(samples)
        p99 = percentile(samples, 0.99)
        print(f"    median {fmt_ns(median)}, p99 {fmt_ns(p99)}, "
              f"p99.9 {fmt_ns(percentile(samples, 0.999))}, max {fmt_ns(samples[-1])}",
              flush=True)
        target = LATENCY_TARGETS.get((backend, op))
        if target is None:
            rows.append(Row(backend, op, fmt_ns(median), fmt_ns(p99), "-", None, median))
            continue
        limit, inclusive, text_target = target
        met = median <= limit if inclusive else median < limit
        rows.append(Row(backend, op, fmt_ns(median), fmt_ns(p99), text_target, met, median))
    return rows


def sql_engine(client: StoreClient) -> SqlBackend:
    """The client's SQL backend (raises on any other backend)."""
    backend = client.backend
    if not isinstance(backend, SqlBackend):
        raise TypeError(f"expected a SQL backend, got {type(backend).__name__}")
    return backend


def describe_sqlite(client: StoreClient) -> str:
    """The journal mode and synchronous level the backend really set."""
    with sql_engine(client).engine.connect() as conn:
        journal = conn.execute(text("PRAGMA journal_mode")).scalar()
        sync = conn.execute(text("PRAGMA synchronous")).scalar()
    sync_name = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(int(sync or 0), str(sync))
    return f"journal_mode={journal}, synchronous={sync_name}"


def describe_postgres(client: StoreClient) -> str:
    """The server version and its fsync/synchronous_commit settings."""
    with sql_engine(client).engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        fsync = conn.execute(text("SHOW fsync")).scalar()
        sync_commit = conn.execute(text("SHOW synchronous_commit")).scalar()
    return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync_commit}"


def cleanup_row(backend: str, url: str, rows: int) -> Row:
    """Seed ``rows`` expired task rows (and LIVE_ROWS live ones), time one cleanup."""
    now = datetime.now(timezone.utc)
    seeder = connect(url, clock=lambda: now)
    try:
        print(f"  {backend} cleanup: seeding {rows:,} expired + {LIVE_ROWS:,} live rows",
              flush=True)
        start = time.perf_counter()
        bulk_put(seeder, rows, expires_at=now - timedelta(days=1), task="expired")
        bulk_put(seeder, LIVE_ROWS, expires_at=None, task="live")
        print(f"    seeded in {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        seeder.close()
    client = connect(url, clock=lambda: now)
    try:
        # The first call of a client creates/checks the schema; keep that out of the timing.
        client.task_store(TaskScope("dag", "run", "live")).get("k0")
        gc.collect()
        start = time.perf_counter()
        report = client.cleanup(batch_size=CLEANUP_BATCH)
        elapsed = time.perf_counter() - start
        live = client.task_store(TaskScope("dag", "run", "live")).items()
    finally:
        client.close()
    print(f"    cleanup(batch_size={CLEANUP_BATCH:,}): {elapsed:.2f} s, "
          f"count={report.count:,}", flush=True)
    if report.count != rows or len(live) != LIVE_ROWS:
        raise RuntimeError(f"cleanup deleted {report.count} rows (expected {rows}) and left "
                           f"{len(live)} live rows (expected {LIVE_ROWS})")
    op = f"cleanup {rows:,} rows / {CLEANUP_BATCH:,}"
    if backend == "sqlite" and rows == CLEANUP_TARGET_ROWS:
        return Row(backend, op, f"{elapsed:.2f} s", "-", f"< {CLEANUP_TARGET_S:g} s",
                   elapsed < CLEANUP_TARGET_S)
    return Row(backend, op, f"{elapsed:.2f} s", "-", "-", None)


def postgres_rows(args: argparse.Namespace) -> tuple[list[Row], str]:
    """Latency (and, if asked, cleanup) rows on a fresh fsync-on PostgreSQL server."""
    try:
        from tests.support.postgres import PostgresServer, find_pg_bindir
    except ImportError as exc:
        return [], f"PostgreSQL skipped: cannot import the test server helper ({exc})"
    bindir = find_pg_bindir()
    if bindir is None:
        return [], ("PostgreSQL skipped: binaries (initdb, pg_ctl, postgres) not found; "
                    "set RESUMABLE_PG_BINDIR or install postgresql")
    print(f"postgresql: starting a server from {bindir} (fsync on)", flush=True)
    rows: list[Row] = []
    with PostgresServer(fsync=True, bindir=bindir) as server:
        client = connect(server.url)
        try:
            rows += latency_rows("postgresql", client, args.n, args.warmup)
            info = describe_postgres(client)
        finally:
            client.close()
        if args.cleanup_pg:
            rows.append(cleanup_row("postgresql", server.create_database("cleanup"),
                                    args.cleanup_rows))
    return rows, f"postgresql: {info}, loopback TCP (127.0.0.1)"


def print_rows(rows: list[Row]) -> None:
    print_table(("backend", "op", "median", "p99", "target", "met?"), [
        (r.backend, r.op, r.median, r.p99, r.target,
         "-" if r.met is None else ("yes" if r.met else "NO"))
        for r in rows])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=5000, help="timed calls per op and backend")
    parser.add_argument("--warmup", type=int, default=500, help="untimed calls before each op")
    parser.add_argument("--cleanup-rows", type=int, default=CLEANUP_TARGET_ROWS,
                        help="expired rows to seed for the cleanup benchmark (0: skip it)")
    parser.add_argument("--cleanup-pg", action="store_true",
                        help="also time cleanup on PostgreSQL")
    parser.add_argument("--skip-postgres", action="store_true", help="do not run PostgreSQL")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if any measured target is missed")
    args = parser.parse_args(argv)
    if args.n < 1 or args.warmup < 0 or args.cleanup_rows < 0:
        parser.error("--n must be >= 1, --warmup and --cleanup-rows >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    notes = [f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
             f"{platform.machine()}, n={args.n}, warm-up={args.warmup}"]
    rows: list[Row] = []

    print("memory: timing", flush=True)
    client = connect("memory://")
    try:
        rows += latency_rows("memory", client, args.n, args.warmup)
    finally:
        client.close()

    with tempfile.TemporaryDirectory(prefix="resumable-bench-") as tmp:
        print("sqlite: timing", flush=True)
        client = connect(f"sqlite:///{tmp}/latency.db")
        try:
            rows += latency_rows("sqlite", client, args.n, args.warmup)
            notes.append(f"sqlite: temp file, {describe_sqlite(client)}")
        finally:
            client.close()
        if args.cleanup_rows:
            rows.append(cleanup_row("sqlite", f"sqlite:///{tmp}/cleanup.db", args.cleanup_rows))

    if args.skip_postgres:
        notes.append("PostgreSQL skipped (--skip-postgres)")
    else:
        pg_rows, pg_note = postgres_rows(args)
        rows += pg_rows
        notes.append(pg_note)

    sqlite_set = next(r for r in rows if (r.backend, r.op) == ("sqlite", "set"))
    assert sqlite_set.median_ns is not None
    speedup = AIRFLOW_SET_MEDIAN_NS / sqlite_set.median_ns
    speedup_met = speedup >= AIRFLOW_MIN_SPEEDUP

    print()
    for note in notes:
        print(note)
    print()
    print_rows(rows)
    print()
    print(f"Airflow 3.3.2 in-task set ({fmt_ns(AIRFLOW_SET_MEDIAN_NS)} median, a constant) / "
          f"our SQLite set median ({sqlite_set.median}): {speedup:.1f} x faster "
          f"(target >= {AIRFLOW_MIN_SPEEDUP:g} x: {'yes' if speedup_met else 'NO'})")
    missed = [f"{r.backend} {r.op}" for r in rows if r.met is False]
    if not speedup_met:
        missed.append("speed-up over Airflow")
    print(f"targets missed: {', '.join(missed)}" if missed else "all measured targets met")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())

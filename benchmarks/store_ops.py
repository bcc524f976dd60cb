"""The store client against the raw database floor, measured side by side in one run.

What is measured:

* Per-call latency of three operations through the public API, on each backend, and of
  the same statements on a raw driver connection (the floor): ``set`` (task store; one
  checkpoint key overwritten with ``{"page": i}``; raw: ``INSERT ... ON CONFLICT DO
  UPDATE`` then commit), ``get`` (that key; raw: ``SELECT value`` by the five key
  columns and ``expires_at IS NULL OR expires_at > now``) and ``compare_and_set``
  (asset store, successful increments ``i -> i + 1``; raw: ``UPDATE ... WHERE value =
  expected RETURNING key`` then commit). Ours and raw run INTERLEAVED in blocks of
  ``BLOCK`` calls (ours, raw, ours, ...), so a change in machine load falls on both;
  each call is wrapped in ``time.perf_counter_ns``; per side ``--warmup`` calls are
  untimed, then ``--n`` timed; the table gives medians, our p99 (nearest rank), and
  ours / raw of the medians. The raw floor is a plain ``sqlite3`` connection on its own
  temp file (``journal_mode=WAL``, ``synchronous=NORMAL``) or a ``psycopg`` connection
  with ``autocommit=True`` to its own database on the same PostgreSQL server; tables of
  the same shape as ours, the same JSON texts, datetimes as ours stores them (naive UTC
  text on SQLite, ``timestamptz`` on PostgreSQL). The raw side does no validation, no
  JSON encoding or decoding and no retry: that is what "ours" adds to the floor.
* ``compare_and_set`` under contention: 1, then ``WRITERS`` writer processes (spawned)
  increment one asset key through the public API (``compare_and_set(k, cur, cur + 1)``,
  re-reading with ``get`` after a ``False``) for ``--cas-seconds``, starting together.
  Reported: successful increments per second, attempts per success, and whether the
  final counter equals the successes counted by the writers.
* ``client.cleanup(batch_size=10_000)`` on a SQLite store seeded with
  ``--cleanup-rows`` expired task rows (plus 1,000 rows that never expire, which must
  survive). Seeding bypasses the API (``tests/store_client/bulk.py``) and is not timed.
  The longest batch is timed from the start of one batch's ``DELETE`` to the start of
  the next (SQLAlchemy's ``before_cursor_execute``), so it includes the commit. With
  ``--cleanup-pg`` the same on PostgreSQL (no target).

Backends: ``memory://`` (absolute targets, no floor); SQLite in temp files; PostgreSQL
started by ``tests.support.postgres.PostgresServer`` with fsync on, loopback TCP (the
settings really in force are printed).

Targets: ours / raw median <= 2.0 on SQLite and <= 1.3 on PostgreSQL for each op;
memory medians < 10 µs; 8-writer increments/s >= 0.5x the 1-writer rate, and the final
counter equal to the successes; cleanup of 1,000,000 rows on SQLite < 15 s.

What it does not do: measure Airflow (``airflow_side_by_side.py`` does), threads,
async calls, or a remote database. It is a report: exit 0 unless something crashes;
``--check`` exits 1 if a measured target is missed. ``--summary FILE`` writes the
results as JSON for a runner (``benchmarks/_summary.py``).

Run from the repository root::

    .venv/bin/python benchmarks/store_ops.py [--quick] [--n 5000] [--cleanup-rows N]
        [--cas-seconds 3] [--cleanup-pg] [--skip-postgres] [--check] [--summary FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import multiprocessing
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text

from benchmarks._summary import Result, write_summary
from benchmarks._table import print_table
from store_client import AssetStore, StoreClient, TaskScope, connect
from store_client._sql import SqlBackend
from tests.store_client.bulk import bulk_put

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

BENCHMARK = "store ops"
BLOCK = 100  # calls per side before switching to the other
FULL = {"n": 5000, "warmup": 500, "cleanup_rows": 1_000_000, "cas_seconds": 3.0}
QUICK = {"n": 500, "warmup": 100, "cleanup_rows": 100_000, "cas_seconds": 1.0}
RATIO_TARGETS = {"sqlite": 2.0, "postgresql": 1.3}  # ours / raw median, every op
MEMORY_TARGET_NS = 10_000
WRITERS = 8
WRITER_IDLE_S = 600.0  # a writer process waiting longer for a job exits
MIN_SCALING = 0.5  # WRITERS-writer increments/s over the 1-writer rate
CLEANUP_BATCH = 10_000
CLEANUP_TARGET_ROWS = 1_000_000  # the cleanup target is stated for this many rows
CLEANUP_TARGET_S = 15.0
LIVE_ROWS = 1_000  # rows that never expire, seeded next to the expired ones

OPS = ("set", "get", "compare_and_set")
LABEL = {"memory": "memory", "sqlite": "SQLite", "postgresql": "PostgreSQL"}
DRIVER = {"sqlite": "sqlite3", "postgresql": "psycopg"}
RAW_OP = {"set": "upsert", "get": "select", "compare_and_set": "update returning"}

SCOPE = ("bench_dag", "run_1", "extract", -1)
KEY, ASSET, COUNTER = "checkpoint", "orders", "watermark"
RETENTION = timedelta(days=30)  # our default retention: the expiry a set writes
SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

Call = Callable[[int], object]


# -- the raw floor ------------------------------------------------------------------------

DDL = (
    "CREATE TABLE resumable_task_state (id {id} PRIMARY KEY, dag_id VARCHAR(250) NOT NULL, "
    "run_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, map_index INTEGER NOT NULL, "
    "key VARCHAR(250) NOT NULL, value TEXT NOT NULL, updated_at {ts} NOT NULL, "
    "expires_at {ts}, CONSTRAINT uq_resumable_task_state "
    "UNIQUE (dag_id, run_id, task_id, map_index, key))",
    "CREATE INDEX ix_resumable_task_state_expires_at ON resumable_task_state (expires_at)",
    "CREATE TABLE resumable_asset_state (asset VARCHAR(1500) NOT NULL, "
    "key VARCHAR(250) NOT NULL, value TEXT NOT NULL, updated_at {ts} NOT NULL, "
    "PRIMARY KEY (asset, key))",
)
UPSERT = ("INSERT INTO resumable_task_state (dag_id, run_id, task_id, map_index, key, value, "
          "updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (dag_id, run_id, task_id, map_index, key) DO UPDATE SET "
          "value = excluded.value, updated_at = excluded.updated_at, "
          "expires_at = excluded.expires_at")
SELECT = ("SELECT value FROM resumable_task_state WHERE dag_id = ? AND run_id = ? "
          "AND task_id = ? AND map_index = ? AND key = ? "
          "AND (expires_at IS NULL OR expires_at > ?)")
CAS = ("UPDATE resumable_asset_state SET value = ?, updated_at = ? "
       "WHERE asset = ? AND key = ? AND value = ? RETURNING key")
SEED_ASSET = ("INSERT INTO resumable_asset_state (asset, key, value, updated_at) "
              "VALUES (?, ?, ?, ?)")


def sqlite_text(moment: datetime) -> str:
    """A datetime as our SQLite store writes it: naive UTC text with microseconds."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(
        sep=" ", timespec="microseconds")


def same_moment(moment: datetime) -> datetime:
    """A datetime as psycopg takes it for ``timestamptz``: unchanged."""
    return moment


class RawStore:
    """Our statements on a plain DB-API connection: the floor under the store client.

    ``conn`` is a ``sqlite3`` connection (implicit transactions, committed here after
    each write) or a ``psycopg`` one with ``autocommit=True`` (every statement its own
    transaction). ``scope`` is the task row's (dag_id, run_id, task_id, map_index).
    The statements' placeholders are set once here, not per call.
    """

    def __init__(self, conn: Any, *, postgres: bool,
                 scope: tuple[str, str, str, int] = SCOPE) -> None:
        self.conn = conn
        self.scope = scope
        self.postgres = postgres
        self._stamp: Callable[[datetime], object] = same_moment if postgres else sqlite_text
        upsert, select, cas, seed = ((s.replace("?", "%s") if postgres else s)
                                     for s in (UPSERT, SELECT, CAS, SEED_ASSET))
        self._upsert, self._select, self._cas, self._seed = upsert, select, cas, seed

    def create_tables(self) -> None:
        for statement in DDL:
            self.conn.execute(statement.format(
                id="BIGSERIAL" if self.postgres else "INTEGER",
                ts="TIMESTAMP WITH TIME ZONE" if self.postgres else "DATETIME"))
        self._done()

    def _done(self) -> None:
        if not self.postgres:
            self.conn.commit()

    def upsert(self, key: str, value: str) -> None:
        """``set``: insert or overwrite one task row, expiring after our default retention."""
        now = datetime.now(timezone.utc)
        self.conn.execute(self._upsert, (*self.scope, key, value, self._stamp(now),
                                         self._stamp(now + RETENTION)))
        self._done()

    def select(self, key: str) -> str | None:
        """``get``: the live value of one task row."""
        rows = self.conn.execute(self._select, (
            *self.scope, key, self._stamp(datetime.now(timezone.utc)))).fetchall()
        return rows[0][0] if rows else None

    def update_if(self, key: str, expected: str, new: str) -> bool:
        """``compare_and_set``: set the asset row to ``new`` if it holds ``expected``."""
        rows = self.conn.execute(self._cas, (
            new, self._stamp(datetime.now(timezone.utc)), ASSET, key, expected)).fetchall()
        self._done()
        return bool(rows)

    def seed_counter(self, key: str, value: int) -> None:
        self.conn.execute(self._seed, (ASSET, key, str(value),
                                       self._stamp(datetime.now(timezone.utc))))
        self._done()

    def close(self) -> None:
        self.conn.close()


def open_raw_sqlite(path: Path, scope: tuple[str, str, str, int] = SCOPE) -> RawStore:
    """A raw ``sqlite3`` floor on a new file: WAL, ``synchronous=NORMAL``, our tables."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    raw = RawStore(conn, postgres=False, scope=scope)
    raw.create_tables()
    return raw


def open_raw_postgres(conninfo: str, scope: tuple[str, str, str, int] = SCOPE) -> RawStore:
    """A raw ``psycopg`` floor (autocommit) on an empty database: our tables."""
    import psycopg

    raw = RawStore(psycopg.connect(conninfo, autocommit=True), postgres=True, scope=scope)
    raw.create_tables()
    return raw


def describe_raw_sqlite(raw: RawStore) -> str:
    journal = raw.conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = raw.conn.execute("PRAGMA synchronous").fetchone()[0]
    return f"journal_mode={journal}, synchronous={SYNC_NAMES.get(int(sync), str(sync))}"


# -- timing ---------------------------------------------------------------------------------


def fmt_ns(ns: float) -> str:
    """A duration in µs below 1 ms, else in ms."""
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    return f"{ns / 1_000_000:.3f} ms"


def percentile(sorted_ns: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return sorted_ns[rank - 1]


def interleaved(calls: Sequence[Call], n: int, warmup: int, block: int = BLOCK
                ) -> list[list[int]]:
    """Run each of ``calls`` ``warmup + n`` times, alternating blocks of ``block`` calls.

    ``calls[k](i)`` gets its own index ``i`` = 0, 1, ...; the first ``warmup`` calls of
    each side are untimed. Returns each side's timings in ns, sorted.
    """
    samples: list[list[int]] = [[] for _ in calls]
    clock = time.perf_counter_ns
    total = warmup + n
    gc.collect()
    for start in range(0, total, block):
        for call, timings in zip(calls, samples, strict=True):
            for i in range(start, min(start + block, total)):
                began = clock()
                call(i)
                elapsed = clock() - began
                if i >= warmup:
                    timings.append(elapsed)
    for timings in samples:
        timings.sort()
    return samples


# -- latency ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """One line of the latency table: ours (and the raw floor's) median, with the target."""

    backend: str
    op: str
    ours_ns: float
    p99_ns: float
    raw_ns: float | None  # None: no floor (memory)

    @property
    def ratio(self) -> float | None:
        return None if self.raw_ns is None else self.ours_ns / self.raw_ns

    @property
    def target(self) -> str:
        if self.raw_ns is None:
            return f"median < {fmt_ns(MEMORY_TARGET_NS)}"
        return f"ours / raw <= {RATIO_TARGETS[self.backend]:g}x"

    @property
    def met(self) -> bool:
        if self.ratio is None:
            return self.ours_ns < MEMORY_TARGET_NS
        return self.ratio <= RATIO_TARGETS[self.backend]

    def cells(self) -> tuple[str, ...]:
        raw = "-" if self.raw_ns is None else fmt_ns(self.raw_ns)
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        return (self.backend, self.op, fmt_ns(self.ours_ns), fmt_ns(self.p99_ns), raw, ratio,
                self.target, yes_no(self.met))

    def result(self) -> Result:
        if self.ratio is None or self.raw_ns is None:
            return Result(BENCHMARK, f"memory {self.op} median", fmt_ns(self.ours_ns),
                          f"< {fmt_ns(MEMORY_TARGET_NS)}", self.met)
        measure = (f"{LABEL[self.backend]} {self.op} / raw {DRIVER[self.backend]} "
                   f"{RAW_OP[self.op]}")
        figure = f"{self.ratio:.2f}x ({fmt_ns(self.ours_ns)} / {fmt_ns(self.raw_ns)})"
        return Result(BENCHMARK, measure, figure, f"<= {RATIO_TARGETS[self.backend]:g}x",
                      self.met)


def yes_no(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


def our_calls(client: StoreClient) -> dict[str, Call]:
    """set, get and compare_and_set through the public API, ready to be timed."""
    ts = client.task_store(TaskScope(*SCOPE))
    assets = client.asset_store(ASSET)
    ts.set(KEY, {"page": -1})
    if not assets.compare_and_set(COUNTER, None, 0):
        raise RuntimeError("could not create the compare_and_set counter")

    def do_set(i: int) -> None:
        ts.set(KEY, {"page": i})

    def do_get(_i: int) -> None:
        if ts.get(KEY) is None:
            raise RuntimeError("get: the checkpoint key is missing")

    def do_cas(i: int) -> None:
        if not assets.compare_and_set(COUNTER, i, i + 1):
            raise RuntimeError(f"compare_and_set({i} -> {i + 1}) failed")

    return {"set": do_set, "get": do_get, "compare_and_set": do_cas}


def raw_calls(raw: RawStore) -> dict[str, Call]:
    """The same three operations on the raw floor, same texts."""
    raw.upsert(KEY, '{"page":-1}')
    raw.seed_counter(COUNTER, 0)

    def do_set(i: int) -> None:
        raw.upsert(KEY, f'{{"page":{i}}}')

    def do_get(_i: int) -> None:
        if raw.select(KEY) is None:
            raise RuntimeError("raw get: the checkpoint key is missing")

    def do_cas(i: int) -> None:
        if not raw.update_if(COUNTER, str(i), str(i + 1)):
            raise RuntimeError(f"raw compare_and_set({i} -> {i + 1}) failed")

    return {"set": do_set, "get": do_get, "compare_and_set": do_cas}


def latency(backend: str, ours: dict[str, Call], raw: dict[str, Call] | None, n: int,
            warmup: int) -> list[Latency]:
    """Time each op, ours interleaved with the raw floor's (if any); one line each."""
    lines: list[Latency] = []
    for op in OPS:
        calls = [ours[op]] if raw is None else [ours[op], raw[op]]
        side = "" if raw is None else " and raw, interleaved"
        print(f"  {backend} {op}: {warmup} warm-up + {n} timed calls{side}", flush=True)
        samples = interleaved(calls, n, warmup)
        line = Latency(backend, op, statistics.median(samples[0]),
                       percentile(samples[0], 0.99),
                       None if raw is None else statistics.median(samples[1]))
        raw_text = "" if line.raw_ns is None else f", raw median {fmt_ns(line.raw_ns)}"
        print(f"    ours median {fmt_ns(line.ours_ns)}, p99 {fmt_ns(line.p99_ns)}, "
              f"max {fmt_ns(samples[0][-1])}{raw_text}", flush=True)
        lines.append(line)
    return lines


# -- compare_and_set under contention ------------------------------------------------------


def as_int(value: object) -> int:
    if not isinstance(value, int):
        raise RuntimeError(f"the counter holds {value!r}, not an int")
    return value


def increment(store: AssetStore, key: str, current: int, start_at: float, seconds: float
              ) -> tuple[int, int, float]:
    """From wall time ``start_at``, increment ``key`` for ``seconds``; (successes, attempts,
    seconds taken)."""
    time.sleep(max(0.0, start_at - time.time()))
    successes = attempts = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        attempts += 1
        if store.compare_and_set(key, current, current + 1):
            current += 1
            successes += 1
        else:
            current = as_int(store.get(key))
    return successes, attempts, time.perf_counter() - started


def writer_process(inbox: Any, outbox: Any) -> None:
    """A writer: per job (url, key) connect and report ready, then on (start_at, seconds)
    increment and report; ``None`` (or WRITER_IDLE_S without a message: the parent is
    gone) ends it. Errors are reported, not raised."""
    outbox.put(("started", None))
    while (job := inbox.get(timeout=WRITER_IDLE_S)) is not None:
        try:
            url, key = job
            with connect(url) as client:
                store = client.asset_store(ASSET)
                current = as_int(store.get(key))
                outbox.put(("ready", None))
                start_at, seconds = inbox.get(timeout=WRITER_IDLE_S)
                outbox.put(("done", increment(store, key, current, start_at, seconds)))
        except Exception:
            outbox.put(("error", traceback.format_exc()))


class WriterPool:
    """``size`` spawned writer processes, started once, handed jobs one phase at a time."""

    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._outbox = context.Queue()
        self._inboxes = [context.Queue() for _ in range(size)]
        self._procs = [context.Process(target=writer_process, args=(inbox, self._outbox),
                                       daemon=True) for inbox in self._inboxes]
        for proc in self._procs:
            proc.start()
        self._expect("started", size, timeout=120)

    def _expect(self, kind: str, count: int, timeout: float) -> list[Any]:
        found = []
        for _ in range(count):
            got, payload = self._outbox.get(timeout=timeout)
            if got == "error":
                raise RuntimeError(f"a writer process failed:\n{payload}")
            if got != kind:
                raise RuntimeError(f"a writer said {got!r}, expected {kind!r}")
            found.append(payload)
        return found

    def run(self, url: str, key: str, writers: int, seconds: float
            ) -> list[tuple[int, int, float]]:
        """``writers`` processes increment ``key`` together for ``seconds``."""
        for inbox in self._inboxes[:writers]:
            inbox.put((url, key))
        self._expect("ready", writers, timeout=60)
        start_at = time.time() + 0.05
        for inbox in self._inboxes[:writers]:
            inbox.put((start_at, seconds))
        return self._expect("done", writers, timeout=seconds + 120)

    def close(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)


@dataclass(frozen=True)
class Contention:
    """One contention run: ``writers`` processes incrementing one key."""

    backend: str
    writers: int
    successes: int
    attempts: int
    seconds: float  # the longest writer's time
    counter: int  # how far the counter moved

    @property
    def rate(self) -> float:
        return self.successes / self.seconds

    @property
    def attempts_per_success(self) -> float:
        return self.attempts / self.successes if self.successes else math.inf

    @property
    def counted(self) -> bool:
        return self.counter == self.successes


def contention(pool: WriterPool, backend: str, url: str, seconds: float) -> list[Contention]:
    """Run 1 writer, then WRITERS, each on a fresh counter key."""
    runs: list[Contention] = []
    with connect(url) as client:
        store = client.asset_store(ASSET)
        for writers in (1, WRITERS):
            key = f"counter_{writers}_writers"
            if not store.compare_and_set(key, None, 0):
                raise RuntimeError(f"could not create the counter {key}")
            print(f"  {backend} compare_and_set: {writers} writer process(es) for "
                  f"{seconds:g} s", flush=True)
            done = pool.run(url, key, writers, seconds)
            run = Contention(backend, writers, sum(s for s, _, _ in done),
                             sum(a for _, a, _ in done), max(t for _, _, t in done),
                             as_int(store.get(key)))
            print(f"    {run.rate:,.0f} increments/s, {run.attempts_per_success:.2f} attempts "
                  f"per success, counter {run.counter:,} for {run.successes:,} successes",
                  flush=True)
            runs.append(run)
    return runs


def scaling(runs: list[Contention]) -> float:
    """The WRITERS-writer rate over the 1-writer rate."""
    by_writers = {run.writers: run for run in runs}
    one = by_writers[1].rate
    return by_writers[WRITERS].rate / one if one else 0.0


def contention_cells(runs: list[Contention]) -> list[tuple[str, ...]]:
    cells = []
    for run in runs:
        many = run.writers == WRITERS
        cells.append((run.backend, str(run.writers), f"{run.successes:,}",
                      f"{run.rate:,.0f}/s", f"{run.attempts_per_success:.2f}",
                      f"{run.counter:,} ({'ok' if run.counted else 'WRONG'})",
                      f"{scaling(runs):.2f}x" if many else "-",
                      f">= {MIN_SCALING:g}x" if many else "-",
                      yes_no(scaling(runs) >= MIN_SCALING) if many else "-"))
    return cells


def contention_results(runs: list[Contention]) -> list[Result]:
    by_writers = {run.writers: run for run in runs}
    one, many = by_writers[1], by_writers[WRITERS]
    label = LABEL[one.backend]
    figure = (f"{scaling(runs):.2f}x ({many.rate:,.0f}/s, {many.attempts_per_success:.2f} "
              f"attempts per success / {one.rate:,.0f}/s)")
    counted = all(run.counted for run in runs)
    return [
        Result(BENCHMARK, f"{label} compare_and_set, {WRITERS} writer processes / 1",
               figure, f">= {MIN_SCALING:g}x", scaling(runs) >= MIN_SCALING),
        Result(BENCHMARK, f"{label} compare_and_set counter = successes",
               "; ".join(f"{run.writers} writer(s): {run.counter:,} for {run.successes:,}"
                         for run in runs), "equal", counted),
    ]


# -- cleanup --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cleanup:
    """One timed cleanup of ``rows`` expired rows."""

    backend: str
    rows: int
    seconds: float
    batches: int  # batch statements seen (0: not seen, the mean is over expected batches)
    longest: float | None  # seconds; None when the batches were not seen

    @property
    def has_target(self) -> bool:
        return self.backend == "sqlite" and self.rows == CLEANUP_TARGET_ROWS

    @property
    def met(self) -> bool | None:
        return self.seconds < CLEANUP_TARGET_S if self.has_target else None

    @property
    def mean(self) -> float:
        return self.seconds / (self.batches or self.rows // CLEANUP_BATCH + 1)

    @property
    def batch_text(self) -> str:
        if self.longest is None:
            return f"mean batch {self.mean * 1000:.1f} ms"
        return f"longest batch {self.longest * 1000:.1f} ms, mean {self.mean * 1000:.1f} ms"

    def cells(self) -> tuple[str, ...]:
        longest = "-" if self.longest is None else f"{self.longest * 1000:.1f} ms"
        return (self.backend, f"{self.rows:,}", f"{self.seconds:.2f} s",
                str(self.batches or "?"), longest, f"{self.mean * 1000:.1f} ms",
                f"< {CLEANUP_TARGET_S:g} s" if self.has_target else "-", yes_no(self.met))

    def result(self) -> Result:
        return Result(BENCHMARK, f"{LABEL[self.backend]} cleanup of {self.rows:,} expired rows "
                      f"(batches of {CLEANUP_BATCH:,})", f"{self.seconds:.2f} s "
                      f"({self.batch_text})",
                      f"< {CLEANUP_TARGET_S:g} s" if self.has_target else "-", self.met)


def sql_backend(client: StoreClient) -> SqlBackend:
    """The client's SQL backend (raises on any other backend)."""
    backend = client.backend
    if not isinstance(backend, SqlBackend):
        raise TypeError(f"expected a SQL backend, got {type(backend).__name__}")
    return backend


def seed_expired(url: str, rows: int, now: datetime) -> None:
    """``rows`` expired task rows and LIVE_ROWS that never expire (not timed)."""
    seeder = connect(url, clock=lambda: now)
    try:
        start = time.perf_counter()
        bulk_put(seeder, rows, expires_at=now - timedelta(days=1), task="expired")
        bulk_put(seeder, LIVE_ROWS, expires_at=None, task="live")
        print(f"    seeded in {time.perf_counter() - start:.1f} s", flush=True)
    finally:
        seeder.close()


@contextlib.contextmanager
def delete_starts(client: StoreClient) -> Iterator[list[float]]:
    """The perf_counter time of every DELETE the client's engine starts in the block."""
    starts: list[float] = []
    engine = sql_backend(client).engine

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.lstrip()[:6].upper() == "DELETE":
            starts.append(time.perf_counter())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield starts
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def cleanup_run(backend: str, url: str, rows: int) -> Cleanup:
    """Seed ``rows`` expired task rows (and LIVE_ROWS live ones), time one cleanup."""
    now = datetime.now(timezone.utc)
    print(f"  {backend} cleanup: seeding {rows:,} expired + {LIVE_ROWS:,} live rows",
          flush=True)
    seed_expired(url, rows, now)
    with connect(url, clock=lambda: now) as client:
        # The first call of a client creates/checks the schema; keep that out of the timing.
        client.task_store(TaskScope("dag", "run", "live")).get("k0")
        gc.collect()
        with delete_starts(client) as starts:
            start = time.perf_counter()
            report = client.cleanup(batch_size=CLEANUP_BATCH)
            end = time.perf_counter()
        live = client.task_store(TaskScope("dag", "run", "live")).items()
    if report.count != rows or len(live) != LIVE_ROWS:
        raise RuntimeError(f"cleanup deleted {report.count} rows (expected {rows}) and left "
                           f"{len(live)} live rows (expected {LIVE_ROWS})")
    spans = [b - a for a, b in zip(starts, [*starts[1:], end], strict=True)]
    run = Cleanup(backend, rows, end - start, len(starts), max(spans) if spans else None)
    print(f"    cleanup(batch_size={CLEANUP_BATCH:,}): {run.seconds:.2f} s, {run.batch_text}",
          flush=True)
    return run


# -- backends -------------------------------------------------------------------------------


def describe_sqlite(client: StoreClient) -> str:
    """The journal mode and synchronous level our backend really set."""
    with sql_backend(client).engine.connect() as conn:
        journal = conn.execute(text("PRAGMA journal_mode")).scalar()
        sync = conn.execute(text("PRAGMA synchronous")).scalar()
    return f"journal_mode={journal}, synchronous={SYNC_NAMES.get(int(sync or 0), str(sync))}"


def describe_postgres(client: StoreClient) -> str:
    """The server version and its fsync/synchronous_commit settings."""
    with sql_backend(client).engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        fsync = conn.execute(text("SHOW fsync")).scalar()
        sync_commit = conn.execute(text("SHOW synchronous_commit")).scalar()
    return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync_commit}"


@contextlib.contextmanager
def postgres_server(skip: bool, notes: list[str]) -> Iterator[PostgresServer | None]:
    """A fresh fsync-on PostgreSQL server, or None (with a note) when skipped or missing."""
    if skip:
        notes.append("PostgreSQL skipped (--skip-postgres)")
        yield None
        return
    try:
        from tests.support.postgres import PostgresServer, find_pg_bindir
    except ImportError as exc:
        notes.append(f"PostgreSQL skipped: cannot import the test server helper ({exc})")
        yield None
        return
    bindir = find_pg_bindir()
    if bindir is None:
        notes.append("PostgreSQL skipped: binaries (initdb, pg_ctl, postgres) not found; "
                     "set RESUMABLE_PG_BINDIR or install postgresql")
        yield None
        return
    print(f"postgresql: starting a server from {bindir} (fsync on)", flush=True)
    with PostgresServer(fsync=True, bindir=bindir) as server:
        yield server


def sqlite_latency(tmp: Path, n: int, warmup: int, notes: list[str]) -> list[Latency]:
    print("sqlite: timing, ours and raw sqlite3 interleaved", flush=True)
    raw = open_raw_sqlite(tmp / "raw.db")
    try:
        with connect(f"sqlite:///{tmp}/ours.db") as client:
            lines = latency("sqlite", our_calls(client), raw_calls(raw), n, warmup)
            notes.append(f"sqlite: temp files; ours {describe_sqlite(client)}; "
                         f"raw sqlite3 {describe_raw_sqlite(raw)}")
    finally:
        raw.close()
    return lines


def postgres_latency(server: PostgresServer, n: int, warmup: int, notes: list[str]
                     ) -> list[Latency]:
    print("postgresql: timing, ours and raw psycopg interleaved", flush=True)
    ours_url = server.create_database("ours")
    server.create_database("raw")
    raw = open_raw_postgres(server.conninfo("raw"))
    try:
        with connect(ours_url) as client:
            lines = latency("postgresql", our_calls(client), raw_calls(raw), n, warmup)
            notes.append(f"postgresql: {describe_postgres(client)}, loopback TCP; ours and "
                         "raw in two databases of one server; raw psycopg autocommit")
    finally:
        raw.close()
    return lines


# -- output -----------------------------------------------------------------------------------


def print_report(notes: list[str], lines: list[Latency], runs: list[Contention],
                 cleanups: list[Cleanup], seconds: float) -> None:
    print()
    for note in notes:
        print(note)
    print()
    print(f"latency: ours and the raw floor interleaved in blocks of {BLOCK} calls; medians")
    print_table(("backend", "op", "ours median", "ours p99", "raw median", "ours / raw",
                 "target", "met?"), [line.cells() for line in lines])
    if runs:
        print()
        print(f"compare_and_set on one asset key by writer processes for {seconds:g} s "
              "(re-read with get after a False)")
        cells = [cell for backend in dict.fromkeys(r.backend for r in runs)
                 for cell in contention_cells([r for r in runs if r.backend == backend])]
        print_table(("backend", "writers", "successes", "increments/s", "attempts/success",
                     "final counter", f"{WRITERS} / 1", "target", "met?"), cells)
    if cleanups:
        print()
        print(f"cleanup(batch_size={CLEANUP_BATCH:,}) of expired rows ({LIVE_ROWS:,} live rows "
              "kept); a batch runs from its DELETE's start to the next one's")
        print_table(("backend", "rows", "total", "batches", "longest batch", "mean batch",
                     "target", "met?"), [c.cells() for c in cleanups])


def results(lines: list[Latency], runs: list[Contention], cleanups: list[Cleanup]
            ) -> list[Result]:
    found = [line.result() for line in lines]
    for backend in dict.fromkeys(run.backend for run in runs):
        found += contention_results([run for run in runs if run.backend == backend])
    return found + [cleanup.result() for cleanup in cleanups]


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help=f"a short run (defaults {QUICK} instead of {FULL})")
    parser.add_argument("--n", type=int, help="timed calls per op, backend and side")
    parser.add_argument("--warmup", type=int, help="untimed calls per side before each op")
    parser.add_argument("--cleanup-rows", type=int,
                        help="expired rows to seed for the cleanup benchmark (0: skip it)")
    parser.add_argument("--cas-seconds", type=float,
                        help="how long the compare_and_set writers run (0: skip it)")
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
    if args.n < 1 or args.warmup < 0 or args.cleanup_rows < 0 or args.cas_seconds < 0:
        parser.error("--n must be >= 1; --warmup, --cleanup-rows, --cas-seconds >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_load = load()
    notes = [f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
             f"{platform.machine()}, n={args.n}, warm-up={args.warmup}"]
    print("memory: timing", flush=True)
    with connect("memory://") as client:
        lines = latency("memory", our_calls(client), None, args.n, args.warmup)
    runs: list[Contention] = []
    cleanups: list[Cleanup] = []
    with tempfile.TemporaryDirectory(prefix="resumable-bench-") as name, \
            postgres_server(args.skip_postgres, notes) as server:
        tmp = Path(name)
        lines += sqlite_latency(tmp, args.n, args.warmup, notes)
        if server is not None:
            lines += postgres_latency(server, args.n, args.warmup, notes)
        if args.cas_seconds:
            print(f"compare_and_set contention: spawning {WRITERS} writer processes", flush=True)
            pool = WriterPool(WRITERS)
            try:
                runs += contention(pool, "sqlite", f"sqlite:///{tmp}/cas.db", args.cas_seconds)
                if server is not None:
                    runs += contention(pool, "postgresql", server.create_database("cas"),
                                       args.cas_seconds)
            finally:
                pool.close()
        if args.cleanup_rows:
            cleanups.append(cleanup_run("sqlite", f"sqlite:///{tmp}/cleanup.db",
                                        args.cleanup_rows))
            if server is not None and args.cleanup_pg:
                cleanups.append(cleanup_run("postgresql", server.create_database("cleanup"),
                                            args.cleanup_rows))
    notes.append(f"load average at start: {started_load}; at end: {load()}")
    print_report(notes, lines, runs, cleanups, args.cas_seconds)
    found = results(lines, runs, cleanups)
    write_summary(args.summary, found)
    missed = [r.measure for r in found if r.met is False]
    print()
    print(f"targets missed: {'; '.join(missed)}" if missed else "all measured targets met")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())

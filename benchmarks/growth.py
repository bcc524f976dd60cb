"""How the store's costs grow with the size of its table and with concurrent writers.

What is measured, on SQLite (a temporary file) and PostgreSQL (a throwaway server with
fsync on, ``tests.support.postgres.PostgresServer``), through the public API:

* One store is grown step by step to each ``--sizes`` row count (default 0, 100,000,
  1,000,000 and 5,000,000 task rows; ``--quick``: 0, 20,000, 100,000). The rows are
  seeded with ``tests/store_client/bulk.py`` (bypassing the API, not timed), each with
  an expiry 30 days ahead, as rows kept under a default retention are; on PostgreSQL the
  table is then ``ANALYZE``d, as autovacuum would soon do. Before the first size, 100 job
  records are written through the API the way ``ResumableJobMixin`` keeps them (the job
  ID under ``job_id`` and a ``JobRecord`` under ``resumable.job/job_id``, one scope
  each, never expiring), so they sit among the N rows.
* At each size:

  - ``set`` and ``get`` of one task-store key (``store_client.connect(url).task_store``):
    the median of ``--n`` timed calls after ``--warmup`` untimed ones;
  - cleanup: ``--cleanup-rows`` expired rows (a fixed number, default 50,000; quick
    10,000) are seeded into the large table, and ``client.cleanup(batch_size=10_000)``
    is timed on a fresh client; the figure per batch is the total over the number of
    delete statements it ran (full batches, plus the last, short one). The same is then
    done again with a second process writing a task key in a loop on its own connection,
    and the longest of its writes that overlapped the cleanup is reported (the stall a
    running task sees while cleanup runs); the timed cleanup runs without that writer;
  - the job listing, ``resumable._cli.tracked_jobs(url)`` (what ``resumable jobs``
    prints): the median of ``--listing-repeats`` calls, each checked to return the 100.

* Writers: 1, 8 and 64 processes (quick: 1, 8, 16), forked and released together on a
  barrier, each committing watermark windows on one shared asset for
  ``--writer-seconds``: ``open_window(client.asset_store(...), cursor="seq",
  initial=0, primary_key="id")``, ten rows whose ``seq`` is ``time.time_ns()`` plus
  0..9 (so increasing per writer and past the cursor the window read) through
  ``window.filter(rows)``, then ``window.commit()``. A commit that returns (True: the
  cursor moved; False: another writer had stored a further one) counts as done; one that
  raises (``WatermarkConflictError``, a store error) as raised. commits/s = done commits
  over the longest writer's time. The stored cursor must end as the furthest cursor of
  all done commits. Each backend's writers use a store of their own (a small one).

Targets (yes/NO beside each figure): at the largest size, ``set`` and ``get`` medians
within 1.5x of the first (empty) size, cleanup time per batch and the job listing within
2x of the first size; with the most writers, no commit raises and commits/s is at least
0.5x the single writer's. ``--check`` exits 1 on a miss; ``--summary FILE`` writes the
figures for ``run_all.py`` (``benchmarks/_summary.py``).

What it does not do: time seeding; measure memory, the Airflow store, many assets or
many keys per write; reproduce a busy production database (one process times at a time
and other load on the machine inflates figures); vacuum PostgreSQL between cleanups.

Run from the repository root::

    .venv/bin/python benchmarks/growth.py [--quick] [--skip-postgres] [--check]
        [--summary FILE] [--sizes 0,100000] [--writers 1,8] [--cleanup-rows N]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from benchmarks._summary import Result, write_summary
from benchmarks._table import print_table
from resumable import open_window
from resumable._cli import tracked_jobs
from resumable._job_record import JobRecord, meta_key, now_iso
from store_client import NEVER_EXPIRE, StoreClient, TaskScope, connect
from store_client._sql import SqlBackend
from tests.store_client.bulk import bulk_put

BENCHMARK = "growth"
DEFAULT_SIZES, QUICK_SIZES = (0, 100_000, 1_000_000, 5_000_000), (0, 20_000, 100_000)
DEFAULT_WRITERS, QUICK_WRITERS = (1, 8, 64), (1, 8, 16)
DEFAULT_CLEANUP_ROWS, QUICK_CLEANUP_ROWS = 50_000, 10_000
CLEANUP_BATCH = 10_000
JOBS = 100
ID_KEY = "job_id"
ROWS_PER_WINDOW = 10
LATENCY_SCOPE = TaskScope("bench_dag", "run_1", "extract")
STALL_SCOPE = TaskScope("bench_dag", "run_1", "stall_writer")

SET_GET_LIMIT = 1.5  # largest / empty, medians
CLEANUP_LIMIT = 2.0  # largest / first size, per batch
LISTING_LIMIT = 2.0  # largest / first size
WRITERS_RATE_LIMIT = 0.5  # most writers / one writer, commits/s

FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Settings:
    """What to run, from the command line."""

    sizes: tuple[int, ...]
    writers: tuple[int, ...]
    cleanup_rows: int
    n: int
    warmup: int
    listing_repeats: int
    writer_seconds: float


@dataclass(frozen=True)
class SizeFigures:
    """Everything measured at one table size on one backend."""

    rows: int
    set_ns: float
    get_ns: float
    cleanup_s: float
    batches: int
    stall_ns: int | None  # the longest write overlapping a cleanup; None: no write overlapped
    write_ns: float  # the writer's median write before that cleanup
    listing_s: float

    @property
    def per_batch_s(self) -> float:
        return self.cleanup_s / self.batches


@dataclass
class WriterReport:
    """What one writer process did (sent back to the parent)."""

    done: int = 0
    moved: int = 0
    raised: int = 0
    stale: int = 0  # the window kept no row (never expected: seq is past the stored cursor)
    furthest: int | None = None  # the furthest cursor of a commit that returned
    elapsed: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class WriterFigures:
    """One run of ``count`` concurrent writers."""

    count: int
    done: int
    moved: int
    raised: int
    rate: float  # done commits per second
    cursor_ok: bool
    errors: dict[str, int]


@dataclass(frozen=True)
class BackendFigures:
    """One backend's results: per size, per writer count, and how it was set up."""

    name: str
    sizes: list[SizeFigures]
    writers: list[WriterFigures]
    note: str


# -- formatting ---------------------------------------------------------------------


def fmt_ns(ns: float) -> str:
    """A duration in µs below 1 ms, in ms below 1 s, else in s."""
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def fmt_s(seconds: float) -> str:
    return fmt_ns(seconds * 1e9)


def yes_no(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "NO")


# -- seeding ------------------------------------------------------------------------


def sql_backend(client: StoreClient) -> SqlBackend:
    backend = client.backend
    if not isinstance(backend, SqlBackend):
        raise TypeError(f"expected a SQL backend, got {type(backend).__name__}")
    return backend


def analyze(client: StoreClient) -> None:
    """``ANALYZE`` the task table on PostgreSQL (what autovacuum does after a bulk load)."""
    engine = sql_backend(client).engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE resumable_task_state"))


def seed_jobs(url: str) -> None:
    """The 100 job records the listing must find, written as the mixin writes them."""
    with connect(url) as client:
        for i in range(JOBS):
            store = client.task_store(TaskScope("jobs_dag", f"run_{i:03d}", "submit"))
            record = JobRecord(external_id=f"job-{i}", generation=1, token=f"token-{i}",
                               phase="submitted", status="RUNNING", submitted_at=now_iso(),
                               updated_at=now_iso())
            store.set(ID_KEY, record.external_id, retention=NEVER_EXPIRE)
            store.set(meta_key(ID_KEY), record.to_json(), retention=NEVER_EXPIRE)


def grow(url: str, have: int, want: int) -> None:
    """Add ``want - have`` live rows (expiring in 30 days) under a task of their own."""
    if want <= have:
        return
    started = time.perf_counter()
    with connect(url) as client:
        expires = datetime.now(timezone.utc) + timedelta(days=30)
        bulk_put(client, want - have, expires_at=expires, task=f"grow_{want}")
        analyze(client)
    print(f"    seeded {want - have:,} rows (now {want:,}) in "
          f"{time.perf_counter() - started:.1f} s (not timed)", flush=True)


def seed_expired(url: str, rows: int) -> None:
    with connect(url) as client:
        bulk_put(client, rows, expires_at=datetime.now(timezone.utc) - timedelta(days=1),
                 task="expired")
        analyze(client)


# -- per-size measures --------------------------------------------------------------


def median_ns(call: Callable[[int], object], n: int, warmup: int) -> float:
    """Median of ``n`` timed calls of ``call(i)`` after ``warmup`` untimed ones."""
    for i in range(warmup):
        call(i)
    gc.collect()
    clock = time.perf_counter_ns
    samples = []
    for i in range(n):
        start = clock()
        call(i)
        samples.append(clock() - start)
    return statistics.median(samples)


def set_get(url: str, n: int, warmup: int) -> tuple[float, float]:
    """Median ``set`` and ``get`` of one task-store key, in ns."""
    with connect(url) as client:
        store = client.task_store(LATENCY_SCOPE)
        store.set("checkpoint", {"page": -1})

        def do_set(i: int) -> None:
            store.set("checkpoint", {"page": i})

        def do_get(_i: int) -> None:
            if store.get("checkpoint") is None:
                raise RuntimeError("get: the checkpoint key is missing")

        return median_ns(do_set, n, warmup), median_ns(do_get, n, warmup)


def timed_cleanup(url: str, expected: int) -> tuple[float, int, int, int]:
    """Time one ``cleanup(batch_size=10_000)`` on a fresh client.

    Returns (seconds, delete statements run, start and end on the monotonic clock, ns).
    """
    with connect(url) as client:
        client.task_store(LATENCY_SCOPE).get("checkpoint")  # schema check, a connection
        gc.collect()
        started_ns = time.monotonic_ns()
        started = time.perf_counter()
        report = client.cleanup(batch_size=CLEANUP_BATCH)
        elapsed = time.perf_counter() - started
        ended_ns = time.monotonic_ns()
    if report.count != expected:
        raise RuntimeError(f"cleanup deleted {report.count:,} rows, expected {expected:,}")
    return elapsed, report.count // CLEANUP_BATCH + 1, started_ns, ended_ns


def stall_writer(url: str, ready: Event, stop: Event, out: Connection) -> None:
    """Child: write one task key in a loop until ``stop``; send (start, duration) pairs."""
    samples: list[tuple[int, int]] = []
    errors = 0
    with connect(url) as client:
        store = client.task_store(STALL_SCOPE)
        store.set("beat", 0)
        ready.set()
        i = 0
        while not stop.is_set():
            i += 1
            start = time.monotonic_ns()
            try:
                store.set("beat", i)
            except Exception:  # a failed write is a stall too: count it, keep going
                errors += 1
            samples.append((start, time.monotonic_ns() - start))
    out.send((samples, errors))
    out.close()


def cleanup_stall(url: str, rows: int) -> tuple[int | None, float]:
    """Run a cleanup while another process writes; (longest overlapping write, median
    write before the cleanup), in ns."""
    seed_expired(url, rows)
    ready, stop = FORK.Event(), FORK.Event()
    receive, send = FORK.Pipe(duplex=False)
    child = FORK.Process(target=stall_writer, args=(url, ready, stop, send), daemon=True)
    child.start()
    send.close()
    try:
        if not ready.wait(60):
            raise RuntimeError("the stall writer did not start")
        time.sleep(0.2)  # some writes before the cleanup, for the baseline
        _, _, started_ns, ended_ns = timed_cleanup(url, rows)
        time.sleep(0.05)
    finally:
        stop.set()
    samples, errors = receive.recv()
    child.join(30)
    if errors:
        print(f"    the stall writer saw {errors} failed writes", flush=True)
    before = [d for s, d in samples if s + d < started_ns]
    during = [d for s, d in samples if s < ended_ns and s + d > started_ns]
    return (max(during) if during else None,
            statistics.median(before) if before else float("nan"))


def listing(url: str, repeats: int) -> float:
    """Median seconds of ``tracked_jobs(url)``, each call checked to list the 100 jobs."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        jobs = tracked_jobs(url)
        samples.append(time.perf_counter() - started)
        found = sorted(str(job["external_id"]) for job in jobs)
        if found != sorted(f"job-{i}" for i in range(JOBS)):
            raise RuntimeError(f"tracked_jobs listed {len(jobs)} jobs, expected the {JOBS}")
    return statistics.median(samples)


def measure_size(url: str, rows: int, settings: Settings) -> SizeFigures:
    set_ns, get_ns = set_get(url, settings.n, settings.warmup)
    print(f"    set {fmt_ns(set_ns)}, get {fmt_ns(get_ns)} (medians)", flush=True)
    seed_expired(url, settings.cleanup_rows)
    cleanup_s, batches, _, _ = timed_cleanup(url, settings.cleanup_rows)
    print(f"    cleanup of {settings.cleanup_rows:,} expired rows: {fmt_s(cleanup_s)} "
          f"({batches} batches)", flush=True)
    stall_ns, write_ns = cleanup_stall(url, settings.cleanup_rows)
    print(f"    longest write during a cleanup: "
          f"{'-' if stall_ns is None else fmt_ns(stall_ns)} "
          f"(median before it {fmt_ns(write_ns)})", flush=True)
    listing_s = listing(url, settings.listing_repeats)
    print(f"    job listing: {fmt_s(listing_s)} (median)", flush=True)
    return SizeFigures(rows, set_ns, get_ns, cleanup_s, batches, stall_ns, write_ns,
                       listing_s)


def growth_figures(url: str, settings: Settings) -> list[SizeFigures]:
    """Grow the store at ``url`` to each size in turn and measure there."""
    seed_jobs(url)
    figures: list[SizeFigures] = []
    have = 0
    for rows in settings.sizes:
        print(f"  {rows:,} rows", flush=True)
        grow(url, have, rows)
        have = max(have, rows)
        figures.append(measure_size(url, rows, settings))
    return figures


# -- concurrent watermark writers ---------------------------------------------------


def watermark_writer(url: str, asset: str, index: int, barrier: Barrier, seconds: float,
                     out: Connection) -> None:
    """Child: commit watermark windows on ``asset`` until ``seconds`` after the barrier."""
    report = WriterReport()
    with connect(url) as client:
        store = client.asset_store(asset)
        store.get("warm-up")  # the schema check and a pooled connection, before the start
        barrier.wait()
        started = time.monotonic()
        deadline = started + seconds
        i = 0
        while time.monotonic() < deadline:
            i += 1
            commit_one(store, index, i, report)
        report.elapsed = time.monotonic() - started
    out.send(report)
    out.close()


def commit_one(store: Any, index: int, i: int, report: WriterReport) -> None:
    """One run: open a window, filter ten fresh rows, commit; record how it went."""
    try:
        window = open_window(store, cursor="seq", initial=0, primary_key="id")
        base = time.time_ns()
        rows = [{"id": f"{index}-{i}-{k}", "seq": base + k} for k in range(ROWS_PER_WINDOW)]
        if not window.filter(rows):
            report.stale += 1
            return
        moved = window.commit()
    except Exception as exc:  # WatermarkConflictError, a store error: counted, not fatal
        report.raised += 1
        name = type(exc).__name__
        report.errors[name] = report.errors.get(name, 0) + 1
        return
    report.done += 1
    report.moved += moved
    if report.furthest is None or window.max_cursor > report.furthest:
        report.furthest = window.max_cursor


def run_writers(url: str, count: int, seconds: float) -> WriterFigures:
    """``count`` forked writers on one asset, released together; their figures."""
    asset = f"orders-{count}"
    barrier = FORK.Barrier(count + 1)
    pipes = [FORK.Pipe(duplex=False) for _ in range(count)]
    children = [FORK.Process(target=watermark_writer,
                             args=(url, asset, index, barrier, seconds, send), daemon=True)
                for index, (_, send) in enumerate(pipes)]
    for child in children:
        child.start()
    for _, send in pipes:
        send.close()
    reports: list[WriterReport] = []
    try:
        barrier.wait(timeout=120)
        reports = [receive.recv() for receive, _ in pipes]
    finally:
        for child in children:
            child.join(30)
            if child.is_alive():
                child.kill()
    return writer_figures(url, asset, count, reports)


def writer_figures(url: str, asset: str, count: int,
                   reports: list[WriterReport]) -> WriterFigures:
    with connect(url) as client:
        stored = open_window(client.asset_store(asset), cursor="seq", initial=0).stored
    furthest = max((r.furthest for r in reports if r.furthest is not None), default=None)
    errors: dict[str, int] = {}
    for report in reports:
        for name, n in report.errors.items():
            errors[name] = errors.get(name, 0) + n
        if report.stale:
            errors["window kept no row"] = errors.get("window kept no row", 0) + report.stale
    done = sum(r.done for r in reports)
    elapsed = max(r.elapsed for r in reports)
    return WriterFigures(count, done, sum(r.moved for r in reports),
                         sum(r.raised for r in reports), done / elapsed,
                         stored is not None and stored.cursor == furthest, errors)


def writers_figures(url: str, settings: Settings) -> list[WriterFigures]:
    figures = []
    for count in settings.writers:
        print(f"  {count} watermark writers for {settings.writer_seconds:g} s", flush=True)
        result = run_writers(url, count, settings.writer_seconds)
        print(f"    {result.done:,} commits done ({result.moved:,} moved the cursor), "
              f"{result.raised:,} raised, {result.rate:,.0f} commits/s, stored cursor "
              f"{'is' if result.cursor_ok else 'is NOT'} the furthest", flush=True)
        figures.append(result)
    return figures


# -- backends -----------------------------------------------------------------------


def sqlite_figures(settings: Settings) -> BackendFigures:
    with tempfile.TemporaryDirectory(prefix="resumable-growth-") as tmp:
        print("sqlite: growing one store", flush=True)
        sizes = growth_figures(f"sqlite:///{tmp}/growth.db", settings)
        print("sqlite: concurrent writers", flush=True)
        writers = writers_figures(f"sqlite:///{tmp}/writers.db", settings)
    note = (f"sqlite: temp file, SQLite {sqlite3.sqlite_version}, WAL, "
            "synchronous=NORMAL (the backend's own settings)")
    return BackendFigures("sqlite", sizes, writers, note)


@contextlib.contextmanager
def postgres_server() -> Iterator[Any]:
    from tests.support.postgres import PostgresServer, find_pg_bindir

    bindir = find_pg_bindir()
    if bindir is None:
        raise LookupError("PostgreSQL binaries (initdb, pg_ctl, postgres) not found; set "
                          "RESUMABLE_PG_BINDIR or install postgresql")
    print(f"postgresql: starting a server from {bindir} (fsync on)", flush=True)
    with PostgresServer(fsync=True, bindir=bindir) as server:
        yield server


def postgres_figures(settings: Settings) -> BackendFigures | str:
    """PostgreSQL's figures, or why it was skipped."""
    try:
        with postgres_server() as server:
            print("postgresql: growing one store", flush=True)
            sizes = growth_figures(server.create_database("growth"), settings)
            print("postgresql: concurrent writers", flush=True)
            writers = writers_figures(server.create_database("writers"), settings)
            with psycopg_settings(server.url) as info:
                note = f"postgresql: {info}, loopback TCP"
    except (ImportError, LookupError) as exc:
        return f"PostgreSQL skipped: {exc}"
    return BackendFigures("postgresql", sizes, writers, note)


@contextlib.contextmanager
def psycopg_settings(url: str) -> Iterator[str]:
    with connect(url) as client, sql_backend(client).engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        fsync = conn.execute(text("SHOW fsync")).scalar()
        yield f"PostgreSQL {version}, fsync={fsync}"


# -- targets and output -------------------------------------------------------------


def ratio_result(backend: str, what: str, last: float, first: float, limit: float,
                 rows: tuple[int, int], fmt: Callable[[float], str]) -> Result:
    ratio = last / first if first > 0 else float("inf")
    return Result(BENCHMARK, f"{backend} {what}, {rows[1]:,} rows / {rows[0]:,}",
                  f"{ratio:.2f}x ({fmt(last)} / {fmt(first)})", f"<= {limit:g}x",
                  ratio <= limit)


def size_results(figures: BackendFigures) -> list[Result]:
    first, last = figures.sizes[0], figures.sizes[-1]
    rows, name = (first.rows, last.rows), figures.name
    results = [
        ratio_result(name, "set median", last.set_ns, first.set_ns, SET_GET_LIMIT, rows, fmt_ns),
        ratio_result(name, "get median", last.get_ns, first.get_ns, SET_GET_LIMIT, rows, fmt_ns),
        ratio_result(name, "cleanup per batch", last.per_batch_s, first.per_batch_s,
                     CLEANUP_LIMIT, rows, fmt_s),
        ratio_result(name, "job listing", last.listing_s, first.listing_s, LISTING_LIMIT,
                     rows, fmt_s),
    ]
    stall = last.stall_ns
    results.append(Result(BENCHMARK, f"{name} longest write during cleanup, {last.rows:,} rows",
                          "-" if stall is None else fmt_ns(stall), "-", None))
    return results


def writer_results(figures: BackendFigures) -> list[Result]:
    if not figures.writers:
        return []
    one, most = figures.writers[0], figures.writers[-1]
    name, attempts = figures.name, most.done + most.raised
    ratio = most.rate / one.rate if one.rate > 0 else 0.0
    return [
        Result(BENCHMARK, f"{name} {most.count} watermark writers: commits raised",
               f"{most.raised:,} of {attempts:,}", "0", most.raised == 0),
        Result(BENCHMARK, f"{name} {most.count} watermark writers: commits/s / {one.count}",
               f"{ratio:.2f}x ({most.rate:,.0f} / {one.rate:,.0f})",
               f">= {WRITERS_RATE_LIMIT:g}x", ratio >= WRITERS_RATE_LIMIT),
        Result(BENCHMARK, f"{name} watermark writers: stored cursor is the furthest",
               ", ".join(f"{w.count}: {'yes' if w.cursor_ok else 'no'}"
                         for w in figures.writers),
               "every run", all(w.cursor_ok for w in figures.writers)),
    ]


def print_sizes(backends: list[BackendFigures], cleanup_rows: int) -> None:
    print_table(
        ("backend", "rows", "set median", "get median", f"cleanup {cleanup_rows:,}",
         "per batch", "longest write in cleanup", "job listing"),
        [(b.name, f"{s.rows:,}", fmt_ns(s.set_ns), fmt_ns(s.get_ns), fmt_s(s.cleanup_s),
          fmt_s(s.per_batch_s), "-" if s.stall_ns is None else
          f"{fmt_ns(s.stall_ns)} (usual {fmt_ns(s.write_ns)})", fmt_s(s.listing_s))
         for b in backends for s in b.sizes])


def print_writers(backends: list[BackendFigures]) -> None:
    print_table(
        ("backend", "writers", "commits done", "moved cursor", "raised", "commits/s",
         "stored cursor", "errors"),
        [(b.name, str(w.count), f"{w.done:,}", f"{w.moved:,}", f"{w.raised:,}",
          f"{w.rate:,.0f}", "furthest" if w.cursor_ok else "NOT the furthest",
          ", ".join(f"{k} {v}" for k, v in sorted(w.errors.items())) or "-")
         for b in backends for w in b.writers])


def report(backends: list[BackendFigures], notes: list[str], settings: Settings,
           skipped: list[Result]) -> list[Result]:
    """Print the tables; return every result (targets and skips)."""
    results = [r for b in backends for r in (*size_results(b), *writer_results(b))]
    results += skipped
    print()
    for note in notes:
        print(note)
    print()
    print_sizes(backends, settings.cleanup_rows)
    print()
    print_writers(backends)
    print()
    print_table(("measure", "figure", "target", "met"),
                [(r.measure, r.figure, r.target, yes_no(r.met)) for r in results])
    missed = [r.measure for r in results if r.met is False]
    print()
    print(f"targets missed: {'; '.join(missed)}" if missed else "all measured targets met")
    return results


# -- command line -------------------------------------------------------------------


def int_list(textual: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part.replace("_", "")) for part in textual.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: "
                                         f"{textual!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 0: {textual!r}")
    return values


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke-sized run (sizes 0, 20,000, 100,000; 1, 8, 16 writers)")
    parser.add_argument("--sizes", type=int_list, help="table sizes, ascending, e.g. 0,100000")
    parser.add_argument("--writers", type=int_list, help="writer counts, e.g. 1,8,64")
    parser.add_argument("--cleanup-rows", type=int, help="expired rows seeded per cleanup")
    parser.add_argument("--n", type=int, help="timed set/get calls per size")
    parser.add_argument("--warmup", type=int, help="untimed calls before them")
    parser.add_argument("--listing-repeats", type=int, help="timed job listings per size")
    parser.add_argument("--writer-seconds", type=float, help="how long the writers run")
    parser.add_argument("--skip-postgres", action="store_true", help="do not run PostgreSQL")
    parser.add_argument("--summary", type=Path, help="write the results here (JSON)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    quick = args.quick
    settings = Settings(
        sizes=args.sizes or (QUICK_SIZES if quick else DEFAULT_SIZES),
        writers=args.writers or (QUICK_WRITERS if quick else DEFAULT_WRITERS),
        cleanup_rows=args.cleanup_rows or (QUICK_CLEANUP_ROWS if quick
                                           else DEFAULT_CLEANUP_ROWS),
        n=args.n or (300 if quick else 2000),
        warmup=args.warmup if args.warmup is not None else (50 if quick else 200),
        listing_repeats=args.listing_repeats or (3 if quick else 5),
        writer_seconds=args.writer_seconds or (1.5 if quick else 5.0))
    if list(settings.sizes) != sorted(settings.sizes) or 0 in settings.writers:
        parser.error("--sizes must be ascending and --writers at least 1 each")
    if settings.cleanup_rows < 1 or settings.n < 1 or settings.writer_seconds <= 0:
        parser.error("--cleanup-rows, --n and --writer-seconds must be positive")
    return args, settings


def main(argv: list[str] | None = None) -> int:
    args, settings = parse_args(argv)
    started = time.perf_counter()
    sizes = ", ".join(f"{size:,}" for size in settings.sizes)
    notes = [f"python {platform.python_version()}, {platform.machine()}, "
             f"{multiprocessing.cpu_count()} CPUs; sizes {sizes}; "
             f"{settings.n:,} timed set/get calls; cleanup of {settings.cleanup_rows:,} expired "
             f"rows in batches of {CLEANUP_BATCH:,}; writers {settings.writers} for "
             f"{settings.writer_seconds:g} s each"]
    backends = [sqlite_figures(settings)]
    notes.append(backends[0].note)
    skipped: list[Result] = []
    pg = "PostgreSQL skipped (--skip-postgres)" if args.skip_postgres else \
        postgres_figures(settings)
    if isinstance(pg, str):
        print(pg, flush=True)
        notes.append(pg)
        skipped.append(Result(BENCHMARK, "postgresql", pg.replace("PostgreSQL ", ""), "-",
                              None))
    else:
        backends.append(pg)
        notes.append(pg.note)
    results = report(backends, notes, settings, skipped)
    print(f"total time {time.perf_counter() - started:.0f} s")
    write_summary(args.summary, results)
    return 1 if args.check and any(r.met is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

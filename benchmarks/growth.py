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

How the work is divided: ``_growth_settings`` (defaults), ``_growth_seed`` (filling
the store), ``_growth_sizes`` (the per-size figures), ``_growth_writers`` (the
concurrent writers), ``_growth_report`` (targets and tables); this script runs the
backends in turn.

What it does not do: time seeding; measure memory, the Airflow store, many assets or
many keys per write; reproduce a busy production database (one process times at a time
and other load on the machine inflates figures); vacuum PostgreSQL between cleanups.

Run from the repository root::

    .venv/bin/python benchmarks/growth.py [--quick] [--skip-postgres] [--check]
        [--summary FILE] [--sizes 0,100000] [--writers 1,8] [--cleanup-rows N]
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._cleanup import CLEANUP_BATCH
from benchmarks._growth_report import BENCHMARK, BackendFigures, report
from benchmarks._growth_settings import Settings, int_list, settings_from
from benchmarks._growth_sizes import growth_figures
from benchmarks._growth_writers import writers_figures
from benchmarks._postgres import fsync_server, skip_reason
from benchmarks._sql_info import describe_postgres
from benchmarks._summary import Result, write_summary
from store_client import connect


def sqlite_figures(settings: Settings) -> BackendFigures:
    with tempfile.TemporaryDirectory(prefix="resumable-growth-") as tmp:
        print("sqlite: growing one store", flush=True)
        sizes = growth_figures(f"sqlite:///{tmp}/growth.db", settings)
        print("sqlite: concurrent writers", flush=True)
        writers = writers_figures(f"sqlite:///{tmp}/writers.db", settings.writers,
                                  settings.writer_seconds)
    note = (f"sqlite: temp file, SQLite {sqlite3.sqlite_version}, WAL, "
            "synchronous=NORMAL (the backend's own settings)")
    return BackendFigures("sqlite", sizes, writers, note)


def postgres_figures(settings: Settings) -> BackendFigures:
    with fsync_server() as server:
        print("postgresql: growing one store", flush=True)
        sizes = growth_figures(server.create_database("growth"), settings)
        print("postgresql: concurrent writers", flush=True)
        writers = writers_figures(server.create_database("writers"), settings.writers,
                                  settings.writer_seconds)
        with connect(server.url) as client:
            note = f"postgresql: {describe_postgres(client)}, loopback TCP"
    return BackendFigures("postgresql", sizes, writers, note)


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
    return args, settings_from(args, parser)


def first_note(settings: Settings) -> str:
    sizes = ", ".join(f"{size:,}" for size in settings.sizes)
    return (f"python {platform.python_version()}, {platform.machine()}, "
            f"{multiprocessing.cpu_count()} CPUs; sizes {sizes}; "
            f"{settings.n:,} timed set/get calls; cleanup of {settings.cleanup_rows:,} "
            f"expired rows in batches of {CLEANUP_BATCH:,}; writers {settings.writers} for "
            f"{settings.writer_seconds:g} s each")


def main(argv: list[str] | None = None) -> int:
    args, settings = parse_args(argv)
    started = time.perf_counter()
    backends = [sqlite_figures(settings)]
    notes = [first_note(settings), backends[0].note]
    skipped: list[Result] = []
    reason = skip_reason(args.skip_postgres)
    if reason is None:
        backends.append(postgres_figures(settings))
        notes.append(backends[-1].note)
    else:
        print(reason, flush=True)
        notes.append(reason)
        skipped.append(Result(BENCHMARK, "postgresql", reason.replace("PostgreSQL ", ""),
                              "-", None))
    results = report(backends, notes, settings.cleanup_rows, skipped)
    print(f"total time {time.perf_counter() - started:.0f} s")
    write_summary(args.summary, results)
    return 1 if args.check and any(r.met is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Writer processes contending for one counter key: ours against the raw floor, and update().

What is measured, on SQLite (temp files) and PostgreSQL (a throwaway server with fsync
on, loopback TCP), with 1 and then 8 writer PROCESSES on one key, forked and released
together on a barrier (``benchmarks/_together.py``), each looping for ``--seconds``
(``benchmarks/_contention_loops.py``):

* ``ours compare_and_set``: ``get``, then ``asset_store.compare_and_set(k, cur, cur + 1)``,
  re-reading with ``get`` after a False;
* ``raw compare_and_set``: the same loop on the raw floor (``benchmarks/_raw_floor.py``:
  a plain ``sqlite3`` connection, or ``psycopg`` in autocommit, running ``UPDATE ...
  WHERE value = expected RETURNING`` and a ``SELECT`` to re-read), on its own file or
  database with tables of our shape;
* ``ours update``: ``asset_store.update(k, fn)`` with ``fn = lambda cur: 1 if cur is None
  else cur + 1``, each process counting how often ``fn`` ran ("changes per update").
  The key is created by one untimed update first, so the writers contend for the row's
  lock, not for creating the row.

At each writer count the three loops run one after the other (ours, raw, update), so a
change in machine load falls on all of them. Reported per run: successful increments
per second (over the longest writer's time), attempts per success, changes per update,
and whether the counter moved by exactly the successes the writers counted.

Targets: with 8 writers, ours compare_and_set increments/s >= 0.5x raw sqlite3's and
0.77x raw psycopg's (within 2x and 1.3x of the floor under the same contention, as for a
single call: with more writers than cores the rate follows each call's CPU cost; the
1-writer rows have no target); ``update``
with 8 writers >= 0.5x its 1-writer rate (no collapse); ``fn`` ran exactly once per
update; every final counter equals the successes. ``--check`` exits 1 on a miss;
``--summary FILE`` writes the results for ``run_all.py`` (``benchmarks/_summary.py``).

What it does not do: measure threads or async calls in one process, many keys, the
memory store, or latency per call (``store_ops.py`` does); with more writers than
CPUs it measures queueing on the machine as much as in the database.

Run from the repository root::

    .venv/bin/python benchmarks/contention.py [--quick] [--seconds 3] [--skip-postgres]
        [--check] [--summary FILE]
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._contention_loops import (
    Tally,
    as_int,
    ours_cas,
    ours_update,
    raw_cas,
    raw_counter,
)
from benchmarks._contention_report import MANY, Run, print_runs, results
from benchmarks._postgres import postgres_server
from benchmarks._raw_floor import (
    ASSET,
    RawStore,
    describe_raw_sqlite,
    open_raw_postgres,
    open_raw_sqlite,
)
from benchmarks._sql_info import describe_postgres, describe_sqlite
from benchmarks._stats import load
from benchmarks._summary import Result, write_summary
from benchmarks._table import missed_line, print_results
from benchmarks._together import Start, run_together
from store_client import connect

WRITERS = (1, MANY)
FULL_SECONDS, QUICK_SECONDS = 3.0, 1.0
START_TIMEOUT_S = 120.0  # for the writers to get ready, and then to report


@dataclass(frozen=True)
class Loop:
    """One loop on one backend: how the parent seeds and reads its counter, and what
    each writer process runs."""

    name: str
    seed: Callable[[str], int]  # create the key; its starting value
    work: Callable[[str, float, Start], Tally]  # in each writer: (key, seconds, start)
    read: Callable[[str], int]  # the counter at the end


def ours_seed_cas(url: str, key: str) -> int:
    with connect(url) as client:
        if not client.asset_store(ASSET).compare_and_set(key, None, 0):
            raise RuntimeError(f"could not create the counter {key}")
    return 0


def ours_seed_update(url: str, key: str) -> int:
    with connect(url) as client:
        return as_int(client.asset_store(ASSET).update(
            key, lambda cur: 1 if cur is None else as_int(cur) + 1))


def ours_read(url: str, key: str) -> int:
    with connect(url) as client:
        return as_int(client.asset_store(ASSET).get(key))


def raw_seed(open_raw: Callable[[], RawStore], key: str) -> int:
    with closing(open_raw()) as raw:
        raw.seed_counter(key, 0)
    return 0


def raw_read(open_raw: Callable[[], RawStore], key: str) -> int:
    with closing(open_raw()) as raw:
        return raw_counter(raw, key)


def loops(url: str, open_raw: Callable[[], RawStore]) -> list[Loop]:
    """The three loops, ours on the store at ``url``, raw on ``open_raw()``'s tables."""
    return [
        Loop("ours compare_and_set", partial(ours_seed_cas, url), partial(ours_cas, url),
             partial(ours_read, url)),
        Loop("raw compare_and_set", partial(raw_seed, open_raw), partial(raw_cas, open_raw),
             partial(raw_read, open_raw)),
        Loop("ours update", partial(ours_seed_update, url), partial(ours_update, url),
             partial(ours_read, url)),
    ]


def run_loop(backend: str, loop: Loop, writers: int, seconds: float) -> Run:
    """``writers`` processes run ``loop`` on a fresh key for ``seconds``."""
    key = f"{loop.name.replace(' ', '_')}_{writers}"
    start_value = loop.seed(key)
    print(f"  {backend} {loop.name}: {writers} writer process(es) for {seconds:g} s",
          flush=True)
    tallies = run_together(lambda _index, start: loop.work(key, seconds, start), writers,
                           timeout=seconds + START_TIMEOUT_S)
    run = Run(backend, loop.name, writers, tallies, loop.read(key) - start_value)
    print(f"    {run.rate:,.0f} increments/s, {run.attempts_per_success:.2f} attempts per "
          f"success, counter moved {run.moved:,} for {run.successes:,} successes", flush=True)
    return run


def backend_runs(backend: str, url: str, open_raw: Callable[[], RawStore],
                 seconds: float) -> list[Run]:
    """At each writer count, the three loops in turn."""
    return [run_loop(backend, loop, writers, seconds)
            for writers in WRITERS for loop in loops(url, open_raw)]


def sqlite_runs(tmp: Path, seconds: float, notes: list[str]) -> list[Run]:
    url, raw_path = f"sqlite:///{tmp}/ours.db", tmp / "raw.db"
    with closing(open_raw_sqlite(raw_path)) as raw, connect(url) as client:
        notes.append(f"sqlite: temp files; ours {describe_sqlite(client)}; "
                     f"raw sqlite3 {describe_raw_sqlite(raw)}")
    return backend_runs("sqlite", url, lambda: open_raw_sqlite(raw_path, create=False),
                        seconds)


def postgres_runs(url: str, raw_conninfo: str, seconds: float, notes: list[str]
                  ) -> list[Run]:
    with closing(open_raw_postgres(raw_conninfo)), connect(url) as client:
        notes.append(f"postgresql: {describe_postgres(client)}, loopback TCP; ours and raw "
                     "in two databases of one server; raw psycopg autocommit")
    return backend_runs("postgresql", url,
                        lambda: open_raw_postgres(raw_conninfo, create=False), seconds)


def measure(seconds: float, skip_postgres: bool, notes: list[str]) -> list[Run]:
    with tempfile.TemporaryDirectory(prefix="resumable-contention-") as tmp, \
            postgres_server(skip_postgres, notes) as server:
        print("sqlite: writers on one key", flush=True)
        runs = sqlite_runs(Path(tmp), seconds, notes)
        if server is not None:
            print("postgresql: writers on one key", flush=True)
            url = server.create_database("ours")
            server.create_database("raw")
            runs += postgres_runs(url, server.conninfo("raw"), seconds, notes)
    return runs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help=f"a short run: {QUICK_SECONDS:g} s per loop")
    parser.add_argument("--seconds", type=float,
                        help=f"how long each loop runs (default {FULL_SECONDS:g})")
    parser.add_argument("--skip-postgres", action="store_true", help="do not run PostgreSQL")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--summary", type=Path, help="write the results here (JSON)")
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else FULL_SECONDS
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started, started_load = time.perf_counter(), load()
    notes = [f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
             f"{platform.machine()}, {multiprocessing.cpu_count()} CPUs; writers "
             f"{', '.join(map(str, WRITERS))} for {args.seconds:g} s per loop"]
    runs = measure(args.seconds, args.skip_postgres, notes)
    notes.append(f"load average at start: {started_load}; at end: {load()}")
    found: list[Result] = results(runs)
    print()
    print("\n".join(notes))
    print()
    print_runs(runs)
    print()
    print_results(found)
    print()
    print(missed_line(found))
    print(f"total time {time.perf_counter() - started:.1f} s")
    write_summary(args.summary, found)
    return 1 if args.check and any(r.met is False for r in found) else 0


if __name__ == "__main__":
    sys.exit(main())

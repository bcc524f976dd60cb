"""Per-call latency of set, get and compare_and_set: ours against the raw floor, interleaved.

How it works: ``set`` (task store; one checkpoint key overwritten with ``{"page": i}``),
``get`` (that key) and ``compare_and_set`` (asset store, successful increments
``i -> i + 1``) through the public API, and the same statements on the raw floor
(``_raw_floor.RawStore``: upsert, select, update returning), run in alternating blocks
(``_stats.interleaved``): per side ``warmup`` untimed calls, then ``n`` timed ones.
A :class:`Latency` line holds our median and p99, the floor's median, and the target:
ours / raw median <= 2.0 on SQLite and <= 1.3 on PostgreSQL; on memory (no floor) a
median under 10 µs. ``store_ops.py`` prints the table and writes the summary.

What it does not do: measure contention (``contention.py``), async calls, or start the
backends: the caller hands it a connected client and an open floor.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._raw_floor import (
    ASSET,
    SCOPE,
    RawStore,
    describe_raw_sqlite,
    open_raw_postgres,
    open_raw_sqlite,
)
from benchmarks._sql_info import describe_postgres, describe_sqlite
from benchmarks._stats import Call, fmt_ns, interleaved, percentile
from benchmarks._summary import Result
from benchmarks._table import LABEL, yes_no
from store_client import StoreClient, TaskScope, connect

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

__all__ = ["Latency", "latency", "our_calls", "postgres_latency", "sqlite_latency"]

BENCHMARK = "store ops"
RATIO_TARGETS = {"sqlite": 2.0, "postgresql": 1.3}  # ours / raw median, every op
MEMORY_TARGET_NS = 10_000
OPS = ("set", "get", "compare_and_set")
DRIVER = {"sqlite": "sqlite3", "postgresql": "psycopg"}
RAW_OP = {"set": "upsert", "get": "select", "compare_and_set": "update returning"}
KEY, COUNTER = "checkpoint", "watermark"


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


def sqlite_latency(tmp: Path, n: int, warmup: int, notes: list[str]) -> list[Latency]:
    """Ours on ``tmp/ours.db`` against raw sqlite3 on ``tmp/raw.db``."""
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
    """Ours and raw psycopg in two new databases of ``server``."""
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

"""Seeding expired task rows and timing one ``client.cleanup`` over them.

How it works: :func:`seed_expired` writes expired task rows (and optionally rows that
never expire) with ``tests/store_client/bulk.py``, bypassing the API, then ``ANALYZE``s
the table on PostgreSQL; it is not timed. :func:`timed_cleanup` times one
``cleanup(batch_size=CLEANUP_BATCH)`` on a fresh client (its schema check and first
connection happen before the clock starts), noting when each batch's ``DELETE`` starts
(SQLAlchemy's ``before_cursor_execute``), so a batch can be timed from its start to the
next one's, commit included; it checks the number of rows deleted.
``store_ops.py`` and the growth benchmark use both.

What it does not do: vacuum, run cleanup concurrently with other work (the growth
benchmark's stall writer does that around it), or time the seeding.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import event

from benchmarks._sql_info import analyze, sql_backend
from store_client import StoreClient, TaskScope, connect
from tests.store_client.bulk import bulk_put

__all__ = ["CLEANUP_BATCH", "LIVE_SCOPE", "CleanupTiming", "seed_expired", "timed_cleanup"]

CLEANUP_BATCH = 10_000
LIVE_SCOPE = TaskScope("dag", "run", "live")  # where bulk_put(task="live") writes


@dataclass(frozen=True)
class CleanupTiming:
    """One timed cleanup: its total, and when each batch started (``perf_counter`` s)."""

    seconds: float
    deleted: int
    delete_starts: list[float]
    end: float  # perf_counter at the end
    started_ns: int  # monotonic_ns at the start and the end, to match other processes'
    ended_ns: int

    @property
    def batches(self) -> int:
        """The DELETE statements run (full batches, then the last, short one)."""
        return len(self.delete_starts) or self.deleted // CLEANUP_BATCH + 1

    @property
    def longest(self) -> float | None:
        """The longest batch, from its DELETE's start to the next one's (or the end)."""
        starts = self.delete_starts
        spans = [b - a for a, b in zip(starts, [*starts[1:], self.end], strict=True)]
        return max(spans) if spans else None


def seed_expired(url: str, rows: int, *, live: int = 0) -> None:
    """``rows`` task rows that expired a day ago (task ``expired``) and ``live`` that never
    expire (task ``live``); then ``ANALYZE`` on PostgreSQL. Not timed."""
    now = datetime.now(timezone.utc)
    with connect(url) as client:
        bulk_put(client, rows, expires_at=now - timedelta(days=1), task="expired")
        if live:
            bulk_put(client, live, expires_at=None, task="live")
        analyze(client)


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


def timed_cleanup(url: str, expected: int) -> CleanupTiming:
    """Time one ``cleanup(batch_size=CLEANUP_BATCH)`` on a fresh client; it must delete
    ``expected`` rows."""
    with connect(url) as client:
        client.task_store(LIVE_SCOPE).get("k0")  # the schema check and a connection
        gc.collect()
        with delete_starts(client) as starts:
            started_ns = time.monotonic_ns()
            started = time.perf_counter()
            report = client.cleanup(batch_size=CLEANUP_BATCH)
            end = time.perf_counter()
            ended_ns = time.monotonic_ns()
    if report.count != expected:
        raise RuntimeError(f"cleanup deleted {report.count:,} rows, expected {expected:,}")
    return CleanupTiming(end - started, report.count, starts, end, started_ns, ended_ns)

"""The growth benchmark's concurrent watermark writers: N processes committing on one asset.

How it works: for each writer count, :func:`run_writers` forks that many processes and
releases them together (``_together.run_together``). Each commits watermark windows on
one shared asset for ``writer_seconds``: ``open_window(client.asset_store(...),
cursor="seq", initial=0, primary_key="id")``, ten rows whose ``seq`` is
``time.time_ns()`` plus 0..9 (increasing per writer and past the cursor the window
read) through ``window.filter(rows)``, then ``window.commit()``. A commit that returns
(True: the cursor moved; False: another writer had stored a further one) counts as
done; one that raises (``WatermarkConflictError``, a store error) as raised. commits/s
is done commits over the longest writer's time; the stored cursor must end as the
furthest cursor of all done commits.

What it does not do: judge the figures (``_growth_report``), use many assets or keys,
or run on a large table (each backend's writers get a small store of their own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from benchmarks._together import Start, run_together
from resumable import open_window
from store_client import AssetStore, connect

__all__ = ["WriterFigures", "writers_figures"]

ROWS_PER_WINDOW = 10
READY_TIMEOUT_S = 120.0  # for the writers to connect, and then to report


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


def commit_one(store: AssetStore, index: int, i: int, report: WriterReport) -> None:
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


def watermark_writer(url: str, asset: str, index: int, seconds: float,
                     start: Start) -> WriterReport:
    """In a writer process: commit watermark windows on ``asset`` for ``seconds``."""
    report = WriterReport()
    with connect(url) as client:
        store = client.asset_store(asset)
        store.get("warm-up")  # the schema check and a pooled connection, before the start
        start()
        started = time.monotonic()
        deadline = started + seconds
        i = 0
        while time.monotonic() < deadline:
            i += 1
            commit_one(store, index, i, report)
        report.elapsed = time.monotonic() - started
    return report


def run_writers(url: str, count: int, seconds: float) -> WriterFigures:
    """``count`` forked writers on one asset, released together; their figures."""
    asset = f"orders-{count}"
    reports = run_together(
        lambda index, start: watermark_writer(url, asset, index, seconds, start), count,
        timeout=seconds + READY_TIMEOUT_S)
    return writer_figures(url, asset, count, reports)


def merged_errors(reports: list[WriterReport]) -> dict[str, int]:
    """Every writer's errors by name, windows that kept no row included."""
    errors: dict[str, int] = {}
    for report in reports:
        for name, n in report.errors.items():
            errors[name] = errors.get(name, 0) + n
        if report.stale:
            errors["window kept no row"] = errors.get("window kept no row", 0) + report.stale
    return errors


def writer_figures(url: str, asset: str, count: int,
                   reports: list[WriterReport]) -> WriterFigures:
    with connect(url) as client:
        stored = open_window(client.asset_store(asset), cursor="seq", initial=0).stored
    furthest = max((r.furthest for r in reports if r.furthest is not None), default=None)
    done = sum(r.done for r in reports)
    elapsed = max(r.elapsed for r in reports)
    return WriterFigures(count, done, sum(r.moved for r in reports),
                         sum(r.raised for r in reports), done / elapsed,
                         stored is not None and stored.cursor == furthest,
                         merged_errors(reports))


def writers_figures(url: str, counts: tuple[int, ...], seconds: float) -> list[WriterFigures]:
    """One run per writer count, in order."""
    figures = []
    for count in counts:
        print(f"  {count} watermark writers for {seconds:g} s", flush=True)
        result = run_writers(url, count, seconds)
        print(f"    {result.done:,} commits done ({result.moved:,} moved the cursor), "
              f"{result.raised:,} raised, {result.rate:,.0f} commits/s, stored cursor "
              f"{'is' if result.cursor_ok else 'is NOT'} the furthest", flush=True)
        figures.append(result)
    return figures

"""The growth benchmark's targets and tables, from the figures of each backend.

How it works: :func:`report` prints the per-size table, the writers table and the
results table, and returns every result. The targets: at the largest size, ``set`` and
``get`` medians within 1.5x of the first size, cleanup time per batch and the job
listing within 2x; the longest write during a cleanup is reported without a target;
with the most writers, no commit raises and commits/s is at least 0.5x the single
writer's; the stored cursor is the furthest in every writers run.

What it does not do: measure (``_growth_sizes``, ``_growth_writers``) or write the
summary (``growth.py`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks._cleanup import CLEANUP_BATCH
from benchmarks._growth_sizes import SizeFigures
from benchmarks._growth_writers import WriterFigures
from benchmarks._stats import fmt_ns, fmt_s
from benchmarks._summary import Result
from benchmarks._table import missed_line, print_results, print_table

__all__ = ["BENCHMARK", "BackendFigures", "report"]

BENCHMARK = "growth"
SET_GET_LIMIT = 1.5  # largest / empty, medians
CLEANUP_LIMIT = 2.0  # largest / first size, per batch
LISTING_LIMIT = 2.0  # largest / first size
WRITERS_RATE_LIMIT = 0.5  # most writers / one writer, commits/s


@dataclass(frozen=True)
class BackendFigures:
    """One backend's results: per size, per writer count, and how it was set up."""

    name: str
    sizes: list[SizeFigures]
    writers: list[WriterFigures]
    note: str


def ratio_result(backend: str, what: str, last: float, first: float, limit: float,
                 rows: tuple[int, int], fmt: Callable[[float], str]) -> Result:
    ratio = last / first if first > 0 else float("inf")
    return Result(BENCHMARK, f"{backend} {what}, {rows[1]:,} rows / {rows[0]:,}",
                  f"{ratio:.2f}x ({fmt(last)} / {fmt(first)})", f"<= {limit:g}x",
                  ratio <= limit)


def size_results(figures: BackendFigures) -> list[Result]:
    first, last = figures.sizes[0], figures.sizes[-1]
    rows, name = (first.rows, last.rows), figures.name
    stall = last.stall_ns
    return [
        ratio_result(name, "set median", last.set_ns, first.set_ns, SET_GET_LIMIT, rows, fmt_ns),
        ratio_result(name, "get median", last.get_ns, first.get_ns, SET_GET_LIMIT, rows, fmt_ns),
        ratio_result(name, "cleanup per batch", last.per_batch_s, first.per_batch_s,
                     CLEANUP_LIMIT, rows, fmt_s),
        ratio_result(name, "job listing", last.listing_s, first.listing_s, LISTING_LIMIT,
                     rows, fmt_s),
        Result(BENCHMARK, f"{name} longest write during cleanup, {last.rows:,} rows",
               "-" if stall is None else fmt_ns(stall), "-", None),
    ]


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


def report(backends: list[BackendFigures], notes: list[str], cleanup_rows: int,
           skipped: list[Result]) -> list[Result]:
    """Print the tables; return every result (targets and skips)."""
    results = [r for b in backends for r in (*size_results(b), *writer_results(b))]
    results += skipped
    print()
    for note in notes:
        print(note)
    print()
    print(f"cleanup in batches of {CLEANUP_BATCH:,}; per batch = total / DELETE statements")
    print_sizes(backends, cleanup_rows)
    print()
    print_writers(backends)
    print()
    print_results(results)
    print()
    print(missed_line(results))
    return results

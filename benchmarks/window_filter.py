"""How fast ``Window.filter`` keeps the rows of a window, against a bare list comprehension.

How it works: ``--rows`` dict rows (``{"id", "updated_at", "seq"}``: an aware datetime
and an int cursor, one second and one unit apart) are generated once, outside the timing,
in ascending cursor order (each kept row is a new maximum, so the window records a new
maximum and the identity of its row every time) and in a seeded random order (a new
maximum is rare). For each order and each window:

* a bounded backfill on the datetime cursor (``open_window(None, cursor="updated_at",
  initial=T0, end=T_end, primary_key="id")``, no store), against
  ``[r for r in rows if T0 <= r["updated_at"] < T_end]``;
* the same on the int cursor ``"seq"``;
* a stored-cursor window on a ``memory://`` asset store: a first window commits the
  watermark T0 (a few rows of their own ids), then a second window's ``filter`` is timed,
  against ``[r for r in rows if r["updated_at"] >= start]``.

The rows run from 10 % of the span before T0 to 10 % after T_end, so both ends drop rows.
Each repeat runs the comprehension then ``filter`` on a fresh window (opened outside the
timing), with ``gc.collect()`` before each, timed with ``time.perf_counter``; the figure is
the best of ``--repeats``. Both results are checked equal once per scenario. The ratio is
ours / bare in time; the target is a ratio of at most 3.0, and ``--check`` exits 1 if a
scenario misses it. ``--summary FILE`` writes one result per scenario (the ratio against
its target) for ``run_all.py`` (``benchmarks/_summary.py``).

What it does not do: time opening or committing a window, rows of other shapes (tuples,
ORM objects, dotted fields), a callable cursor or primary key, ``lag``, or a stored
watermark whose boundary rows are in the data; it measures one process on one machine,
so other load on the machine inflates the figures.

Run from the repository root::

    .venv/bin/python benchmarks/window_filter.py [--rows N] [--repeats N] [--quick] [--check]
        [--summary FILE]
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._summary import Result, write_summary
from benchmarks._table import print_table, yes_no
from resumable import Window, open_window
from store_client import connect

RATIO_TARGET = 3.0
DEFAULT_ROWS, QUICK_ROWS = 1_000_000, 100_000
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

Row = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """One table row: the rows, the bare comprehension and a factory of fresh windows."""

    name: str
    rows: list[Row]
    bare: Callable[[list[Row]], list[Row]]
    window: Callable[[], Window]


def make_rows(count: int) -> tuple[list[Row], int]:
    """``count`` rows in ascending cursor order, and the span of the window (in seconds).

    Row ``i`` has ``seq = i - count // 10`` and ``updated_at = T0 + seq`` seconds: the
    window ``[0, span)`` (``[T0, T0 + span)``) leaves about 10 % of the rows on each side.
    """
    offset = count // 10
    span = max(count - 2 * offset, 1)
    rows = [{"id": i, "updated_at": T0 + timedelta(seconds=i - offset), "seq": i - offset}
            for i in range(count)]
    return rows, span


def bounded_datetime(rows: list[Row], span: int, order: str) -> Scenario:
    t_end = T0 + timedelta(seconds=span)

    def bare(rows: list[Row]) -> list[Row]:
        return [r for r in rows if T0 <= r["updated_at"] < t_end]

    def window() -> Window:
        return open_window(None, cursor="updated_at", initial=T0, end=t_end, primary_key="id")

    return Scenario(f"datetime cursor, start and end, {order}", rows, bare, window)


def bounded_int(rows: list[Row], span: int, order: str) -> Scenario:
    def bare(rows: list[Row]) -> list[Row]:
        return [r for r in rows if 0 <= r["seq"] < span]

    def window() -> Window:
        return open_window(None, cursor="seq", initial=0, end=span, primary_key="id")

    return Scenario(f"int cursor, start and end, {order}", rows, bare, window)


def stored_cursor(rows: list[Row], order: str) -> Scenario:
    """A window on a memory asset store whose stored watermark is T0 (from a first run)."""
    store = connect("memory://").asset_store("bench")
    initial = T0 - timedelta(days=3650)  # before every row
    first = open_window(store, cursor="updated_at", initial=initial, primary_key="id")
    first.filter([{"id": -n, "updated_at": T0 - timedelta(seconds=n - 1)} for n in (1, 2, 3)])
    if not first.commit():
        raise RuntimeError("the first window did not store its watermark")
    start = open_window(store, cursor="updated_at", initial=initial, primary_key="id").start
    if start != T0:
        raise RuntimeError(f"the stored window starts at {start!r}, not {T0!r}")

    def bare(rows: list[Row]) -> list[Row]:
        return [r for r in rows if r["updated_at"] >= start]

    def window() -> Window:
        return open_window(store, cursor="updated_at", initial=initial, primary_key="id")

    return Scenario(f"datetime cursor, stored watermark, {order}", rows, bare, window)


def timed(run: Callable[[list[Row]], object], rows: list[Row]) -> float:
    """Seconds taken by ``run(rows)``, after a ``gc.collect()``."""
    gc.collect()
    started = time.perf_counter()
    run(rows)
    return time.perf_counter() - started


def measure(scenario: Scenario, repeats: int) -> tuple[float, float]:
    """(best bare seconds, best ``filter`` seconds) over ``repeats`` interleaved pairs."""
    rows = scenario.rows
    if scenario.window().filter(rows) != scenario.bare(rows):
        raise RuntimeError(f"{scenario.name}: filter and the comprehension keep different rows")
    bare_times, ours_times = [], []
    for _ in range(repeats):
        bare_times.append(timed(scenario.bare, rows))
        ours_times.append(timed(scenario.window().filter, rows))
    return min(bare_times), min(ours_times)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--repeats", type=int, default=3, help="the best of N runs is kept")
    parser.add_argument("--seed", type=int, default=1234, help="for the random order")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke-sized run: {QUICK_ROWS:,} rows, 1 repeat")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--summary", type=Path, help="write the results here (JSON)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.repeats = QUICK_ROWS, 1
    if args.rows < 10 or args.repeats < 1:
        parser.error("--rows must be at least 10 and --repeats at least 1")
    return args


def scenarios(count: int, seed: int) -> list[Scenario]:
    """Each window kind on ``count`` rows in ascending and in seeded random order."""
    ascending, span = make_rows(count)
    shuffled = ascending.copy()
    random.Random(seed).shuffle(shuffled)
    return [make(rows, order)
            for rows, order in ((ascending, "ascending"), (shuffled, "random order"))
            for make in (lambda rows, order: bounded_datetime(rows, span, order),
                         lambda rows, order: bounded_int(rows, span, order),
                         stored_cursor)]


def run(scenario: Scenario, rows: int, repeats: int) -> tuple[tuple[str, ...], Result]:
    """Time one scenario: its table row and its result."""
    print(f"timing: {scenario.name}", flush=True)
    bare, ours = measure(scenario, repeats)
    ratio = ours / bare
    met = ratio <= RATIO_TARGET
    row = (scenario.name, f"{rows:,}", f"{rows / bare:,.0f}", f"{rows / ours:,.0f}",
           f"{ratio:.2f}x", f"≤ {RATIO_TARGET:.1f}x", yes_no(met))
    return row, Result("watermark filter", f"{scenario.name}: filter / bare",
                       f"{ratio:.2f}x ({ours * 1e3:.1f} ms / {bare * 1e3:.1f} ms)",
                       f"<= {RATIO_TARGET:.1f}x", met)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), "
          f"{args.rows:,} rows, best of {args.repeats}", flush=True)
    timed_rows = [run(scenario, args.rows, args.repeats)
                  for scenario in scenarios(args.rows, args.seed)]
    results = [result for _, result in timed_rows]
    write_summary(args.summary, results)
    print()
    print(f"Window.filter against a bare list comprehension; Python {platform.python_version()}, "
          f"{args.rows:,} rows, best of {args.repeats} (ratio = ours / bare, in time)")
    print_table(("scenario", "rows", "bare rows/s", "ours rows/s", "ratio", "target", "met"),
                [row for row, _ in timed_rows])
    return 1 if args.check and any(r.met is False for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

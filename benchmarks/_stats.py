"""Timing loops, percentiles and duration formats that every benchmark shares.

How it works: :func:`interleaved` times several calls in alternating blocks with
``time.perf_counter_ns`` (so a change in machine load falls on all of them);
:func:`median_ns` is the one-call case. :func:`percentile` is the nearest-rank
percentile; :func:`fmt_ns` and :func:`fmt_s` print a duration in the unit that suits
it; :func:`load` gives the load averages that the scripts print beside their figures.

What it does not do: decide targets, print tables (``_table.py``) or write summaries
(``_summary.py``).
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence

__all__ = ["BLOCK", "Call", "fmt_ns", "fmt_s", "interleaved", "load", "median_ns", "percentile"]

BLOCK = 100  # calls per side before interleaved() switches to the next one

Call = Callable[[int], object]


def fmt_ns(ns: float) -> str:
    """A duration in µs below 1 ms, in ms below 1 s, else in s."""
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.3f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def fmt_s(seconds: float) -> str:
    """:func:`fmt_ns` of a duration given in seconds."""
    return fmt_ns(seconds * 1e9)


def percentile(sorted_ns: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
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


def median_ns(call: Call, n: int, warmup: int) -> float:
    """Median of ``n`` timed calls of ``call(i)`` after ``warmup`` untimed ones, in ns."""
    return float(statistics.median(interleaved([call], n, warmup, block=n + warmup)[0]))


def load() -> str:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())

"""The figures, targets and table of ``contention.py``.

How it works: a :class:`Run` sums the writers' tallies of one loop at one writer count
(rate = successes over the longest writer's time); :func:`results` turns one
backend's runs into summary results with their targets: ours / raw compare_and_set
increments/s with 8 writers >= 0.5x on SQLite, 0.77x on PostgreSQL (the single-call
targets of ``store_ops``; the 1-writer ratio is reported without a target),
``update`` with 8 writers >= 0.5x its 1-writer rate, the change function run exactly
once per update, and every counter moved by exactly the successes.
:func:`print_runs` prints one line per run.

What it does not do: run anything (``contention.py`` and ``_contention_loops.py`` do).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks._contention_loops import Tally
from benchmarks._summary import Result
from benchmarks._table import LABEL, print_table

__all__ = ["Run", "print_runs", "results"]

BENCHMARK = "contention"
MANY = 8  # the writer count the targets are stated for
#: ours / raw compare_and_set increments/s with MANY writers, by backend label: the
#: single-call targets of store_ops (within 2x of sqlite3, 1.3x of psycopg), since with
#: more writers than cores the rate follows each call's CPU cost.
RAW_RATIO_TARGETS = {"SQLite": 0.5, "PostgreSQL": 0.77}
UPDATE_SCALING_TARGET = 0.5  # update increments/s, MANY writers / 1
OURS_CAS, RAW_CAS, UPDATE = "ours compare_and_set", "raw compare_and_set", "ours update"


@dataclass(frozen=True)
class Run:
    """``writers`` processes running one loop on one key, and how far the key moved."""

    backend: str
    loop: str
    writers: int
    tallies: Sequence[Tally]
    moved: int  # the final counter minus its starting value

    @property
    def successes(self) -> int:
        return sum(t.successes for t in self.tallies)

    @property
    def attempts(self) -> int:
        return sum(t.attempts for t in self.tallies)

    @property
    def changes(self) -> int:
        return sum(t.changes for t in self.tallies)

    @property
    def rate(self) -> float:
        """Successful increments per second, over the longest writer's time."""
        return self.successes / max(t.seconds for t in self.tallies)

    @property
    def attempts_per_success(self) -> float:
        return self.attempts / self.successes if self.successes else math.inf

    @property
    def changes_per_update(self) -> float | None:
        """How often the change function ran per update (None: not an update loop)."""
        if self.loop != UPDATE:
            return None
        return self.changes / self.successes if self.successes else math.inf

    @property
    def counted(self) -> bool:
        return self.moved == self.successes

    def cells(self) -> tuple[str, ...]:
        per_update = self.changes_per_update
        return (self.backend, self.loop, str(self.writers), f"{self.successes:,}",
                f"{self.rate:,.0f}/s", f"{self.attempts_per_success:.2f}",
                "-" if per_update is None else f"{per_update:.4f}",
                f"{self.moved:,} ({'ok' if self.counted else 'WRONG'})")


def print_runs(runs: Sequence[Run]) -> None:
    print_table(("backend", "loop", "writers", "successes", "increments/s",
                 "attempts/success", "changes/update", "counter moved"),
                [run.cells() for run in runs])


def _figure(run: Run) -> str:
    return f"{run.rate:,.0f}/s, {run.attempts_per_success:.2f} attempts per success"


def raw_ratio(label: str, ours: Run, raw: Run) -> Result:
    """Ours / raw compare_and_set increments/s; a target only with MANY writers."""
    ratio = ours.rate / raw.rate if raw.rate else 0.0
    writers = f"{ours.writers} writer{'s' if ours.writers > 1 else ''}"
    target = RAW_RATIO_TARGETS[label] if ours.writers == MANY else None
    return Result(BENCHMARK, f"{label} compare_and_set, {writers}: ours / raw increments/s",
                  f"{ratio:.2f}x ({_figure(ours)} / {_figure(raw)})",
                  "-" if target is None else f">= {target:g}x",
                  None if target is None else ratio >= target)


def update_scaling(label: str, one: Run, many: Run) -> Result:
    ratio = many.rate / one.rate if one.rate else 0.0
    return Result(BENCHMARK, f"{label} update, {many.writers} writers / 1: increments/s",
                  f"{ratio:.2f}x ({many.rate:,.0f}/s / {one.rate:,.0f}/s)",
                  f">= {UPDATE_SCALING_TARGET:g}x", ratio >= UPDATE_SCALING_TARGET)


def changes_once(label: str, updates: Sequence[Run]) -> Result:
    figure = "; ".join(f"{run.writers} writer(s): {run.changes:,} for {run.successes:,}"
                       for run in updates)
    return Result(BENCHMARK, f"{label} update: changes per update", figure, "exactly 1",
                  all(run.changes == run.successes for run in updates))


def counters(label: str, runs: Sequence[Run]) -> Result:
    wrong = [f"{run.loop} x{run.writers}: moved {run.moved:,} for {run.successes:,}"
             for run in runs if not run.counted]
    return Result(BENCHMARK, f"{label} final counter = successes",
                  "; ".join(wrong) or f"equal in all {len(runs)} runs", "every run",
                  not wrong)


def backend_results(runs: Sequence[Run]) -> list[Result]:
    """One backend's results (its runs hold each loop at 1 and MANY writers)."""
    by = {(run.loop, run.writers): run for run in runs}
    label = LABEL[runs[0].backend]
    return [raw_ratio(label, by[OURS_CAS, MANY], by[RAW_CAS, MANY]),
            raw_ratio(label, by[OURS_CAS, 1], by[RAW_CAS, 1]),
            update_scaling(label, by[UPDATE, 1], by[UPDATE, MANY]),
            changes_once(label, [by[UPDATE, 1], by[UPDATE, MANY]]),
            counters(label, runs)]


def results(runs: Sequence[Run]) -> list[Result]:
    """Every backend's results, in the order the backends ran."""
    backends = dict.fromkeys(run.backend for run in runs)
    return [result for backend in backends
            for result in backend_results([run for run in runs if run.backend == backend])]

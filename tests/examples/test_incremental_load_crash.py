"""Crash tests of the incremental-load example: SIGKILL the load process at a random moment
of its run; right after each kill the stored cursor never passes a row that is not in the
target, the target got all or none of the run's rows, and a re-run completes the load with
every source row present (rows rewritten only when the kill fell between the target's
commit and the cursor write).

How it works: trial ``seed`` draws everything from ``random.Random(seed)``: the source rows
(timestamps on whole minutes, so many rows share one), whether a complete run happened
first (then new rows include some at exactly the stored cursor's timestamp), the pacing of
the killed run (pause after the select, rows per upsert statement, pause per statement,
pause between commit and return) and the kill delay. The delay aims, round-robin over
the seeds, at one of five phases (the select, the pause, the write transaction, the
commit-to-cursor gap, the end of the run) and is uniform inside it; where the kill really
landed is read back from the data (did the target gain rows, did the cursor move) and the
run's progress lines. Totals are printed (``pytest -s``); only invariants are asserted.

The invariant, exactly: every source row that no later run will read is in the target,
i.e. every row before the stored cursor, and every row at the cursor whose id is in the
stored boundary. A row at the cursor with another id (it arrived at that timestamp after
the cursor was stored) is not loaded yet, and need not be: the next run reads it again
(closed start) and keeps it. Such rows are counted as "left to the next run".
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from examples.incremental_load.load import Pacing, run_load
from resumable._window import State, WatermarkSpec
from tests.examples.incremental_support import (
    Databases,
    LoadProcess,
    add,
    minutes,
    order,
    postgres_databases,
    source_times,
    sqlite_databases,
    stored,
    stored_cursor,
    target_rows,
)
from tests.support.postgres import PostgresServer

SQLITE_SEEDS = range(1000, 1024)  # 24 trials
POSTGRES_SEEDS = (2000, 2003)
AIMS = ("select", "pause", "write", "commit gap", "end")
AFTER_STORE = "after the cursor write"
COMMIT_GAP = "between commit and cursor write"
IDENTITY = WatermarkSpec("updated_at", primary_key="id")  # the example's row identities


@dataclass(frozen=True)
class Outcome:
    """What one trial saw."""

    seed: int
    aim: str
    killed: bool
    landed: str
    violations: int
    waiting: int
    redone: int
    new_rows: int


def _plan(rng: random.Random) -> tuple[Pacing, bool]:
    pacing = Pacing(pause_after_select=round(rng.uniform(0.1, 0.3), 3),
                    chunk_size=rng.randint(4, 12),
                    pause_per_chunk=round(rng.uniform(0.02, 0.05), 3),
                    pause_after_commit=round(rng.uniform(0.1, 0.25), 3))
    return pacing, rng.random() < 0.5


def _delay(rng: random.Random, aim: str, pacing: Pacing, new_rows: int) -> float:
    """Seconds after the run's ``started`` line to kill it, inside the aimed phase."""
    write = math.ceil(new_rows / pacing.chunk_size) * pacing.pause_per_chunk
    edges = [0.0, 0.01, pacing.pause_after_select, write, pacing.pause_after_commit, 0.06]
    start = sum(edges[:AIMS.index(aim) + 1])
    return start + rng.uniform(0, edges[AIMS.index(aim) + 1])


def skipped_for_good(dbs: Databases, source: dict[int, datetime]) -> set[int]:
    """The source rows no later run will read: before the stored cursor, or at it with an
    id in the stored boundary (a row at the cursor with another id is read again)."""
    watermark = stored(dbs.store)
    if watermark is None:
        return set()
    state = State.decode(watermark)
    cursor = state.cursor
    assert isinstance(cursor, datetime)
    return {i for i, at in source.items() if at < cursor or (
        at == cursor and state.boundary.knows(IDENTITY.identity_of({"id": i})))}


def _landed(code: int, last: str, moved: bool, gained: bool) -> str:
    if code != -9:
        return "finished before the kill"
    if moved:
        return AFTER_STORE
    if gained:
        return COMMIT_GAP
    if last.startswith(("progress: selected", "progress: kept")):
        return "paused after the select"
    if last.startswith(("progress: upserted", "progress: committed")):
        return "inside the write transaction"
    return "before the select returned"


def crash_trial(seed: int, dbs: Databases) -> Outcome:
    """Seed the source, SIGKILL one run at a random moment, check, then re-run to the end."""
    rng = random.Random(seed)
    pacing, prior_run = _plan(rng)
    aim = AIMS[seed % len(AIMS)]
    add(dbs.source, [order(i, minutes(rng.randint(0, 10))) for i in range(rng.randint(5, 25))])
    next_id = max(source_times(dbs.source)) + 1
    new_rows = 0 if prior_run else len(source_times(dbs.source))
    base = minutes(0)
    if prior_run:
        run_load(dbs.source, dbs.target, dbs.store, create_target=True)
        base = stored_cursor(dbs.store) or base
        ties = [order(next_id + i, base) for i in range(rng.randint(1, 3))]
        add(dbs.source, ties)
        next_id, new_rows = next_id + len(ties), len(ties)
    later = rng.randint(20, 50)
    add(dbs.source, [order(next_id + i, minutes(rng.randint(0, 15)) + (base - minutes(0)))
                     for i in range(later)])
    new_rows += later
    watermark_before, target_before = stored(dbs.store), set(target_rows(dbs.target))

    proc = LoadProcess(dbs, "--create-target",
                       "--pause-after-select", str(pacing.pause_after_select),
                       "--chunk-size", str(pacing.chunk_size),
                       "--pause-per-chunk", str(pacing.pause_per_chunk),
                       "--pause-after-commit", str(pacing.pause_after_commit))
    proc.wait_for("progress: started")
    time.sleep(_delay(rng, aim, pacing, new_rows))
    code = proc.kill()
    assert code in (0, -9), proc.output

    # Right after the kill: the cursor never passed a row that is not loaded.
    source, target = source_times(dbs.source), target_rows(dbs.target)
    violations = len(skipped_for_good(dbs, source) - set(target))
    cursor = stored_cursor(dbs.store)
    waiting = sum(at == cursor and i not in target for i, at in source.items())
    gained = set(target) - target_before
    assert gained in (set(), set(source) - target_before), "the write was not one transaction"
    moved = stored(dbs.store) != watermark_before
    last = proc.lines[-1] if proc.lines else ""
    landed = _landed(code, last, moved, bool(gained))

    run_load(dbs.source, dbs.target, dbs.store, create_target=True)  # the retry
    target = target_rows(dbs.target)
    assert set(target) == set(source), (f"seed {seed}: the retry did not complete the load "
                                        f"({violations} rows were skipped for good at the kill)")
    redone = {i for i, (_, loads) in target.items() if loads > 1}
    assert redone == (set() if moved else gained), f"seed {seed}: unexpected rewrites"
    assert stored_cursor(dbs.store) == max(source.values())
    return Outcome(seed, aim, code == -9, landed, violations, waiting, len(redone), new_rows)


def report(title: str, outcomes: list[Outcome], elapsed: float) -> str:
    """The totals of a series of trials, one line per fact."""
    kills = [o for o in outcomes if o.killed]
    after = sum(o.landed == AFTER_STORE for o in kills)
    lines = [f"{title}: {len(outcomes)} trials in {elapsed:.1f} s, {len(kills)} SIGKILLs "
             f"({after} after the cursor write, {len(kills) - after} before it)",
             f"  landed: {dict(Counter(o.landed for o in outcomes))}",
             f"  rows rewritten by the retries (commit-to-cursor gap): "
             f"{sum(o.redone for o in outcomes)} of {sum(o.new_rows for o in outcomes)} new",
             f"  rows at the cursor not loaded yet, left to the next run by the boundary: "
             f"{sum(o.waiting for o in outcomes)}",
             f"  invariant violations (rows no later run reads, missing): "
             f"{sum(o.violations for o in outcomes)}"]
    return "\n".join(lines)


def _series(title: str, seeds: list[int], make_dbs: list[Databases]) -> list[Outcome]:
    started = time.monotonic()
    outcomes = [crash_trial(seed, dbs) for seed, dbs in zip(seeds, make_dbs, strict=True)]
    print("\n" + report(title, outcomes, time.monotonic() - started))
    assert sum(o.violations for o in outcomes) == 0, [o for o in outcomes if o.violations]
    return outcomes


def test_sigkill_at_random_moments_sqlite(tmp_path: Path) -> None:
    dirs = [tmp_path / f"seed-{seed}" for seed in SQLITE_SEEDS]
    for directory in dirs:
        directory.mkdir()
    outcomes = _series("SQLite", list(SQLITE_SEEDS), [sqlite_databases(d) for d in dirs])
    assert sum(o.killed for o in outcomes) >= len(outcomes) // 2


def test_sigkill_at_random_moments_postgres(postgres_server: PostgresServer) -> None:
    dbs = [postgres_databases(postgres_server) for _ in POSTGRES_SEEDS]
    _series("PostgreSQL", list(POSTGRES_SEEDS), dbs)

"""Crash tests of ``@watermark`` with 100,000 rows at ONE cursor value: SIGKILL the example
load at random moments; nothing is lost, rows come again only as upserts, and the stored
watermark stays capped (4,096 identities), under Airflow's 65,535-byte value limit, with a
cursor that never moves backwards.

How it works: one series per backend (SQLite files, then fresh PostgreSQL databases) on one
set of databases. Trial 1's source is 100,000 orders sharing one ``updated_at``; before
trial 2, 25 orders are added at that same timestamp (nothing later, so the cursor stays
on the big tie and the stored boundary is merged, not replaced); before trial 3, 25 more
at it and 5 later; before trial 4, 25 at the new cursor and 5 later. Some of each trial's
new ids are chosen so that their identity lies *under* the stored cut (``boundary_below``):
rows inside the covered range that were never loaded, which must not be dropped. In each
trial the example's command line (``python -m examples.incremental_load.load``) is started
and SIGKILLed one or more times, each kill aimed (round-robin, from ``random.Random(seed)``)
at a phase found from the run's progress lines: the select, the pause and filter after
it, inside the write transaction (after a random chunk), between the commit and the cursor
write, or around the cursor write; then it is run again until it exits 0.

What is checked: after every kill and every run, the target is unchanged or has exactly
the run's kept rows (one transaction), those being every source row from the stored
cursor on except the ones whose identity is in the stored boundary (``loads`` + 1 for the
ones already there); every row before the stored cursor and every row whose identity is
in the stored boundary is in the target; the boundary holds at most 4,096 identities, all
``<= below``, each one of a row at the cursor; the JSON of the stored value (read with
``store_client``) is under 65,535 bytes; the cursor never moves backwards. After every
completed run, the target equals the source and the boundary is exact: the identities of
the rows at the cursor that are ``<= below``, the 4,096 smallest when there are more.
Re-delivered rows are counted (from the boundary's overflow, or from a kill between
commit and cursor write) and must add up to ``sum(loads) - rows``; totals are printed
(``pytest -s``).

What it does not do: run concurrent loads, or add rows during a run.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from examples.incremental_load.load import INITIAL
from resumable._boundary import BOUNDARY_LIMIT, Boundary
from resumable._watermark_spec import WatermarkSpec
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
    target_rows,
)
from tests.support.postgres import PostgresServer

BIG = 100_000
TIE = minutes(0)  # the one updated_at of the first 100,000 orders
VALUE_LIMIT = 65_535  # Airflow's asset store refuses longer values
SQLITE_SEED, POSTGRES_SEED = 31, 47
KILLS = (2, 2, 2, 1)  # per trial
ADDED = 25  # rows added at the stored cursor before trials 2-4 (some under the cut)
LATER = 5  # rows added after it before trials 3 and 4
AIMS = ("select", "pause", "write", "commit gap", "end")  # as test_incremental_load_crash
IDENTITY = WatermarkSpec("updated_at", primary_key="id")  # the example's row identities


@dataclass(frozen=True)
class State:
    """A stored watermark as read back: its cursor and its boundary."""

    cursor: datetime
    boundary: Boundary

    @classmethod
    def decode(cls, value: Any) -> State:
        assert value["type"] == "datetime", value
        return cls(datetime.fromisoformat(value["cursor"]), Boundary.decode(value))


@dataclass
class Series:
    """One backend's databases, and what its trials saw so far."""

    title: str
    dbs: Databases
    rng: random.Random
    identities: dict[int, int] = field(default_factory=dict)
    cursors: list[datetime] = field(default_factory=list)
    landed: Counter[str] = field(default_factory=Counter)
    aims: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    runs: int = 0
    overflow: int = 0  # rows re-delivered because they were above the stored cut
    gap: int = 0  # rows re-delivered because a kill fell between commit and cursor write
    max_bytes: int = 0
    sizes: list[tuple[int, int, bool]] = field(default_factory=list)  # bytes, ids, complete

    def identity(self, order_id: int) -> int:
        found = self.identities.get(order_id)
        if found is None:
            found = self.identities[order_id] = IDENTITY.identity_of({"id": order_id})
        return found


def _state(dbs: Databases) -> tuple[Any, State | None]:
    value = stored(dbs.store)
    return value, None if value is None else State.decode(value)


def kept_rows(series: Series, source: dict[int, datetime], state: State | None) -> set[int]:
    """The ids a run opened on ``state`` writes: from the cursor on, minus the known ones."""
    if state is None:
        return {i for i, at in source.items() if at >= INITIAL}
    cursor, known = state.cursor, state.boundary.ids
    return {i for i, at in source.items()
            if at > cursor or (at == cursor and series.identity(i) not in known)}


def _loads(target: dict[int, tuple[datetime, int]]) -> dict[int, int]:
    return {i: loads for i, (_, loads) in target.items()}


def _written(before: dict[int, int], kept: Iterable[int]) -> dict[int, int]:
    after = dict(before)
    for i in kept:
        after[i] = after.get(i, 0) + 1
    return after


def check_watermark(series: Series, source: dict[int, datetime],
                    target: dict[int, int]) -> State | None:
    """The invariants of the stored watermark against what is in the target."""
    value, state = _state(series.dbs)
    if state is None:
        assert not series.cursors, "the stored watermark disappeared"
        return None
    size = len(json.dumps(value).encode())
    series.max_bytes = max(series.max_bytes, size)
    assert size < VALUE_LIMIT, f"the stored watermark takes {size} bytes"
    assert not series.cursors or state.cursor >= series.cursors[-1], (
        f"the cursor moved backwards: {series.cursors[-1]} -> {state.cursor}")
    series.cursors.append(state.cursor)
    boundary = state.boundary
    assert len(boundary.ids) <= BOUNDARY_LIMIT and all(i <= boundary.below for i in boundary.ids)
    at_cursor = {series.identity(i): i for i, at in source.items() if at == state.cursor}
    assert boundary.ids <= at_cursor.keys(), "an identity in the boundary is no row at the cursor"
    dropped_for_good = {i for i, at in source.items() if at < state.cursor}
    dropped_for_good |= {at_cursor[ident] for ident in boundary.ids}
    missing = dropped_for_good - target.keys()
    assert not missing, f"{len(missing)} rows no later run reads are not in the target"
    return state


def check_complete(series: Series, state: State | None, source: dict[int, datetime],
                   target: dict[int, tuple[datetime, int]]) -> None:
    """After a run that exited 0: the target is the source, the boundary exact."""
    assert {i: at for i, (at, _) in target.items()} == source
    assert state is not None and state.cursor == max(source.values())
    boundary = state.boundary
    at_cursor = sorted(series.identity(i) for i, at in source.items() if at == state.cursor)
    assert boundary.ids == {i for i in at_cursor if i <= boundary.below}, "boundary not exact"
    assert len(boundary.ids) == min(BOUNDARY_LIMIT, len(at_cursor))
    assert boundary.complete == (len(at_cursor) <= BOUNDARY_LIMIT)
    value, _ = _state(series.dbs)
    series.sizes.append((len(json.dumps(value).encode()), len(boundary.ids), boundary.complete))


def _await(proc: LoadProcess, prefix: str, timeout: float = 90) -> str | None:
    """The first output line starting with ``prefix``; None if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in list(proc.lines) if line.startswith(prefix)]
        if found:
            return found[0]
        if proc.proc.poll() is not None:
            time.sleep(0.05)  # the reader thread may still be appending
            found = [line for line in list(proc.lines) if line.startswith(prefix)]
            return found[0] if found else None
        time.sleep(0.002)
    raise AssertionError(f"no {prefix!r} line after {timeout} s:\n{proc.output}")


def _pacing(rng: random.Random) -> dict[str, float]:
    return {"pause-after-select": round(rng.uniform(0.1, 0.3), 3),
            "chunk-size": rng.randint(1000, 5000),
            "pause-per-chunk": round(rng.uniform(0.0, 0.01), 3),
            "pause-after-commit": round(rng.uniform(0.1, 0.3), 3)}


def _strike(proc: LoadProcess, aim: str, pacing: dict[str, float],
            rng: random.Random) -> None:
    """Wait for the aimed phase of the run (from its progress lines), inside it at random."""
    if aim == "select":
        if _await(proc, "progress: started"):
            time.sleep(rng.uniform(0, 0.4))
    elif aim == "pause":  # the pause after the select, then window.filter
        if _await(proc, "progress: selected"):
            time.sleep(rng.uniform(0, pacing["pause-after-select"] + 0.8))
    elif aim == "write":
        line = _await(proc, "progress: kept")
        if line is None:
            return
        kept, size = int(line.split()[2]), int(pacing["chunk-size"])
        chunks = math.ceil(kept / size)
        if chunks > 1:
            _await(proc, f"progress: upserted {rng.randint(1, chunks - 1) * size} of {kept}")
        time.sleep(rng.uniform(0, 0.02))
    elif aim == "commit gap":
        if _await(proc, "progress: committed"):
            time.sleep(rng.uniform(0, 0.8 * pacing["pause-after-commit"]))
    elif _await(proc, "progress: committed"):  # "end": around the cursor write
        time.sleep(pacing["pause-after-commit"] + rng.uniform(0, 0.05))


def landed(code: int, last: str, moved: bool, changed: bool) -> str:
    """Where a kill fell, from the data (cursor moved? target changed?) and the last line."""
    if code != -9:
        return "finished before the kill"
    if moved:
        return "after the cursor write"
    if changed:
        return "between commit and cursor write"
    if last.startswith(("progress: selected", "progress: kept")):
        return "in the pause or the filter after the select"
    if last.startswith(("progress: upserted", "progress: committed")):
        return "inside the write transaction"
    return "before the select returned"


def _count_redelivered(series: Series, state: State | None, before: dict[int, int],
                       kept: set[int], source: dict[int, datetime]) -> None:
    for i in kept & before.keys():
        above_cut = (state is not None and source[i] == state.cursor
                     and series.identity(i) > state.boundary.below)
        if above_cut:
            series.overflow += 1
        else:
            series.gap += 1


def one_run(series: Series, aim: str | None) -> None:
    """Start the load; SIGKILL it in the aimed phase (None: let it finish); check."""
    dbs, rng = series.dbs, series.rng
    source = source_times(dbs.source)
    value_before, state = _state(dbs)
    before = _loads(target_rows(dbs.target))
    kept = kept_rows(series, source, state)
    pacing = _pacing(rng) if aim else {}
    options = [x for name, v in pacing.items() for x in (f"--{name}", str(v))]
    proc = LoadProcess(dbs, "--create-target", *options)
    if aim is None:
        proc.finish(timeout=180)
        code = 0
    else:
        _strike(proc, aim, pacing, rng)
        code = proc.kill()
        assert code in (0, -9), proc.output
    target = target_rows(dbs.target)
    after = _loads(target)
    assert after in (before, _written(before, kept)), (
        f"{series.title}: the write was not the run's kept rows in one transaction")
    moved = stored(dbs.store) != value_before
    if moved:
        assert after == _written(before, kept), "the cursor moved before the write committed"
    if after != before:
        _count_redelivered(series, state, before, kept, source)
    new_state = check_watermark(series, source, after)
    if code == 0:
        series.runs += 1
        check_complete(series, new_state, source, target)
    if aim is not None:
        series.kills += code == -9
        series.aims[aim] += 1
        last = proc.lines[-1] if proc.lines else ""
        series.landed[landed(code, last, moved, after != before)] += 1


def pick_ids(series: Series, first: int, count: int, under: int | None) -> list[int]:
    """``count`` new ids from ``first`` on, a fifth of them with an identity ``<= under``."""
    if under is None:
        return list(range(first, first + count))
    low_wanted = max(1, count // 5)
    low: list[int] = []
    high: list[int] = []
    i = first
    while len(low) < low_wanted or len(high) < count - low_wanted:
        side = low if series.identity(i) <= under else high
        if len(side) < (low_wanted if side is low else count - low_wanted):
            side.append(i)
        i += 1
    return sorted(low + high)


def add_rows(series: Series, trial: int) -> None:
    """The rows of trial ``trial`` (0-based), added before it runs."""
    dbs = series.dbs
    if trial == 0:
        add(dbs.source, [order(i, TIE) for i in range(1, BIG + 1)])
        return
    _, state = _state(dbs)
    assert state is not None
    first = max(source_times(dbs.source)) + 1
    cut = None if state.boundary.complete else state.boundary.below
    ties = pick_ids(series, first, ADDED, cut)
    rows = [order(i, state.cursor) for i in ties]
    if trial >= 2:
        start = max(ties) + 1
        rows += [order(start + k, state.cursor + timedelta(minutes=1 + k % 2))
                 for k in range(LATER)]
    add(dbs.source, rows)


def run_series(title: str, dbs: Databases, seed: int) -> Series:
    """Trials 1-4 on ``dbs``: rows added, kills, a run to the end; totals printed."""
    started = time.monotonic()
    series = Series(title, dbs, random.Random(seed))
    aim_index = seed
    for trial, kills in enumerate(KILLS):
        add_rows(series, trial)
        for _ in range(kills):
            one_run(series, AIMS[aim_index % len(AIMS)])
            aim_index += 1
        one_run(series, None)
    target = target_rows(dbs.target)
    rewrites = sum(loads for _, loads in target.values()) - len(target)
    assert rewrites == series.overflow + series.gap
    assert target.keys() == source_times(dbs.source).keys()
    print(f"\n{title}: {len(KILLS)} trials, {sum(KILLS)} kill attempts ({series.kills} "
          f"SIGKILLs) and {series.runs} completed runs in {time.monotonic() - started:.1f} s; "
          f"{len(target)} rows in the target\n"
          f"  aimed: {dict(series.aims)}\n"
          f"  landed: {dict(series.landed)}\n"
          f"  rows re-delivered (upserted again): {rewrites} = {series.overflow} above the "
          f"stored cut + {series.gap} after a kill between commit and cursor write\n"
          f"  stored watermark: at most {series.max_bytes} bytes of JSON; after each completed "
          f"run (bytes, identities, complete): {series.sizes}\n"
          f"  cursors seen: {len(series.cursors)}, never backwards, last "
          f"{series.cursors[-1].isoformat()}")
    return series


def test_sigkill_with_100k_rows_at_one_cursor_sqlite(tmp_path: Path) -> None:
    series = run_series("SQLite", sqlite_databases(tmp_path), SQLITE_SEED)
    assert series.kills >= sum(KILLS) // 2
    assert series.overflow > 0


def test_sigkill_with_100k_rows_at_one_cursor_postgres(postgres_server: PostgresServer) -> None:
    series = run_series("PostgreSQL", postgres_databases(postgres_server), POSTGRES_SEED)
    assert series.kills >= sum(KILLS) // 2
    assert series.overflow > 0

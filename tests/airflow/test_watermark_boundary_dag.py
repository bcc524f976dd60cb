"""The incremental-load DAG in real Airflow with 100,000 rows at ONE cursor value: the
watermark in Airflow's own asset store stays under its 65,535-byte limit and no row is lost.

How it works: ``resumable_incremental_load`` runs twice (two logical dates, one child
process) in an ``AIRFLOW_HOME`` of this module's own (the asset ``orders`` and its state
are shared by every run in a home, and ``test_watermark_dag.py`` needs that state empty
when it starts). Before run 1 the source holds 100,000 orders sharing one ``updated_at``;
run 1 loads them all and stores that cursor with a boundary capped at 4,096 identities
(the smallest, plus ``boundary_below``). Between the runs, a setup in the child reads the
raw value Airflow stored in ``asset_state_store`` (its size in bytes) and the target, then
adds 25 orders at that same timestamp (new ids, 5 of them with an identity under the
stored cut: inside the covered range, never loaded, so they must not be dropped) and 5
later ones. Run 2 re-reads the 100,025 rows at the cursor, drops the 4,096 it knows, and
delivers the others again (the upsert absorbs them; ``loads`` counts them) with the 30
new rows; the cursor moves to the latest timestamp.

What it does not do: crash a try (``test_incremental_load_boundary_crash.py`` SIGKILLs the
example's command line at random moments).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from examples.incremental_load.load import ASSET, KEY
from examples.incremental_load.tables import (
    add_orders,
    engine_for,
)
from resumable._boundary import BOUNDARY_LIMIT, Boundary
from resumable._watermark_spec import WatermarkSpec
from tests.examples.incremental_support import seeded, target_loads
from tests.support.airflow_env import (
    AirflowHome,
    DagRunResult,
    MetadataDB,
    RunSpec,
    migrated_home,
)

DAG_ID = "resumable_incremental_load"
TIE = datetime(2021, 3, 1, 8, 0, tzinfo=timezone.utc)  # the one updated_at of 100,000 orders
BIG = 100_000
ADDED, UNDER_CUT, LATER = 25, 5, 5
VALUE_LIMIT = 65_535  # Airflow's asset store refuses longer values
IDENTITY = WatermarkSpec("updated_at", primary_key="id")  # the example's row identities


def identity(order_id: int) -> int:
    return IDENTITY.identity_of({"id": order_id})


def decode(raw: str) -> tuple[datetime, Boundary]:
    """The cursor and the boundary of a stored watermark's JSON text."""
    value = json.loads(raw)
    assert value["type"] == "datetime", value
    return datetime.fromisoformat(value["cursor"]), Boundary.decode(value)


def _rows(pairs: list[tuple[int, datetime]]) -> list[dict[str, Any]]:
    return [{"id": i, "updated_at": at, "amount": 10 * i} for i, at in pairs]


def stored_text(metadata_db: Path) -> str | None:
    """The watermark exactly as Airflow stored it in ``asset_state_store`` (JSON text)."""
    engine = create_engine(f"sqlite:///{metadata_db}")
    try:
        with engine.connect() as conn:
            return conn.execute(text(
                "SELECT s.value FROM asset_state_store s JOIN asset a ON a.id = s.asset_id "
                "WHERE a.name = :n AND s.key = :k"), {"n": ASSET, "k": KEY}).scalar()
    finally:
        engine.dispose()


@contextlib.contextmanager
def add_rows_between_runs(source: str, target: str, ties: list[int],
                          later: list[int]) -> Iterator[dict[str, Any]]:
    """In the child, before run 2: measure the stored watermark, read the target, add rows."""
    db = MetadataDB.from_env()
    try:
        raw = stored_text(db.path)
    finally:
        db.close()
    loads = target_loads(target)
    engine = engine_for(source)
    try:
        add_orders(engine, _rows([(i, TIE) for i in ties]))
        add_orders(engine, _rows([(i, TIE + timedelta(minutes=1 + k))
                                  for k, i in enumerate(later)]))
    finally:
        engine.dispose()
    yield {"raw": raw, "bytes": None if raw is None else len(raw.encode()),
           "target_ids": sorted(loads) == list(range(1, BIG + 1)),
           "target_loads": dict(Counter(loads.values()))}


@pytest.fixture(scope="module")
def home() -> Iterator[AirflowHome]:
    """An ``AIRFLOW_HOME`` of this module's own (skips without Airflow, as the shared one)."""
    with migrated_home() as airflow:
        yield airflow


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    """The cut run 1 will store, and the ids of the rows added between the runs."""
    smallest = sorted(identity(i) for i in range(1, BIG + 1))[:BOUNDARY_LIMIT]
    cut = smallest[-1]
    under: list[int] = []
    over: list[int] = []
    i = BIG + 1
    while len(under) < UNDER_CUT or len(over) < ADDED - UNDER_CUT:
        side, wanted = (under, UNDER_CUT) if identity(i) <= cut else (over, ADDED - UNDER_CUT)
        if len(side) < wanted:
            side.append(i)
        i += 1
    ties = sorted(under + over)
    later = list(range(i, i + LATER))
    return {"known": set(smallest), "cut": cut, "ties": ties, "under": under, "later": later}


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return seeded(tmp_path_factory.mktemp("orders-boundary"),
                  _rows([(i, TIE) for i in range(1, BIG + 1)]))


@pytest.fixture(scope="module")
def runs(home: AirflowHome, databases: tuple[str, str],
         plan: dict[str, Any]) -> list[DagRunResult]:
    source, target = databases
    env = {"RESUMABLE_EXAMPLE_ORDERS_SOURCE": source,
           "RESUMABLE_EXAMPLE_ORDERS_TARGET": target}
    return home.run(
        RunSpec(DAG_ID, datetime(2026, 4, 1, tzinfo=timezone.utc)),
        RunSpec(DAG_ID, datetime(2026, 4, 2, tzinfo=timezone.utc),
                setup=f"{__name__}:add_rows_between_runs",
                setup_kwargs={"source": source, "target": target, "ties": plan["ties"],
                              "later": plan["later"]}),
        env=env, timeout=600)


def test_both_runs_succeed_in_one_try(home: AirflowHome, runs: list[DagRunResult]) -> None:
    assert [r.state for r in runs] == ["success", "success"]
    for run in runs:
        [ti] = home.db.task_tries(DAG_ID, run.run_id).values()
        assert (ti.task_id, ti.state, ti.try_number) == ("load_orders", "success", 1)
    print(f"\nrun 1: {runs[0].seconds} s, run 2: {runs[1].seconds} s")


def test_after_run_1_the_stored_watermark_is_under_the_limit(
        runs: list[DagRunResult], plan: dict[str, Any]) -> None:
    report = runs[1].report
    assert report["raw"] is not None
    size = report["bytes"]
    print(f"\nthe watermark Airflow stored after run 1 (100,000 rows at one cursor): "
          f"{size} bytes")
    assert size < VALUE_LIMIT
    cursor, boundary = decode(report["raw"])
    assert cursor == TIE
    assert boundary.ids == plan["known"]  # the 4,096 smallest identities
    assert (len(boundary.ids), boundary.below) == (BOUNDARY_LIMIT, plan["cut"])
    assert report["target_ids"] and report["target_loads"] == {"1": BIG}


def test_run_1_loaded_every_row(home: AirflowHome, runs: list[DagRunResult]) -> None:
    first = home.db.xcom(DAG_ID, runs[0].run_id, "load_orders")
    assert first["selected"] == BIG and first["loaded"] == list(range(1, BIG + 1))


def test_after_run_2_every_row_is_in_the_target(home: AirflowHome, runs: list[DagRunResult],
                                                databases: tuple[str, str],
                                                plan: dict[str, Any]) -> None:
    loads = target_loads(databases[1])
    new = set(plan["ties"]) | set(plan["later"])
    assert loads.keys() == set(range(1, BIG + 1)) | new  # 100,030 rows
    assert len(loads) == BIG + ADDED + LATER
    assert {loads[i] for i in new} == {1}  # the 30 new ones once, incl. those under the cut
    # The rows at the cursor whose identity was stored were dropped; the others came again.
    redelivered = {i for i in range(1, BIG + 1) if loads[i] == 2}
    assert redelivered == {i for i in range(1, BIG + 1) if identity(i) not in plan["known"]}
    assert max(loads.values()) == 2
    second = home.db.xcom(DAG_ID, runs[1].run_id, "load_orders")
    assert second["window_start"] == TIE.isoformat()
    assert second["selected"] == BIG + ADDED + LATER
    assert second["loaded"] == sorted(redelivered | new)
    raw = stored_text(home.path / "airflow.db")
    assert raw is not None
    cursor, boundary = decode(raw)
    assert cursor == TIE + timedelta(minutes=LATER)
    assert boundary.ids == {identity(plan["later"][-1])} and boundary.complete
    print(f"\nrun 2 re-delivered {len(redelivered)} of the {BIG} rows at the cursor (above "
          f"the stored cut; the upsert absorbed them), loaded the {len(new)} new ones once "
          f"({len(plan['under'])} of them under the cut); the watermark is now "
          f"{len(raw.encode())} bytes")

"""The incremental-load DAG in real Airflow: the watermark advances across two DAG runs.

``resumable_incremental_load`` runs twice (two logical dates, one child process); rows are
added to the source between the runs (by the second run's setup, in the child, before
that run starts). The second run loads only the new rows, including one whose
``updated_at`` equals the stored cursor (same timestamp, new id: not loaded before). The
cursor is read from Airflow's ``asset_state_store`` table: after the first run (by the
setup, just before it adds rows) and after the second (by the test). ``load_orders`` is
``@task(outlets=[orders])`` stacked on ``@watermark``: it ran with the window injected,
and its window start is what the previous run stored.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from examples.incremental_load.load import ASSET, INITIAL, KEY
from examples.incremental_load.tables import (
    add_orders,
    engine_for,
)
from tests.examples.incremental_support import seeded, target_loads
from tests.support.airflow_env import AirflowHome, DagRunResult, MetadataDB, RunSpec

DAG_ID = "resumable_incremental_load"
T0 = datetime(2021, 3, 1, 8, 0, tzinfo=timezone.utc)
FIRST = [(i, T0 + timedelta(minutes=i)) for i in range(1, 6)]           # ids 1-5
# id 6 shares the first run's last timestamp; 7 and 8 are later
SECOND = [(6, T0 + timedelta(minutes=5)), (7, T0 + timedelta(minutes=6)),
          (8, T0 + timedelta(minutes=7))]


def _rows(pairs: list[tuple[int, datetime]]) -> list[dict[str, Any]]:
    return [{"id": i, "updated_at": at, "amount": 10 * i} for i, at in pairs]


@contextlib.contextmanager
def add_rows_between_runs(source: str) -> Iterator[dict[str, Any]]:
    """In the child, before the second run: read the stored cursor, then add rows."""
    db = MetadataDB.from_env()
    try:
        before = db.asset_state(ASSET)
    finally:
        db.close()
    engine = engine_for(source)
    try:
        add_orders(engine, _rows(SECOND))
    finally:
        engine.dispose()
    yield {"asset_state_before": before}


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return seeded(tmp_path_factory.mktemp("orders"), _rows(FIRST))


@pytest.fixture(scope="module")
def runs(airflow_home: AirflowHome, databases: tuple[str, str]) -> list[DagRunResult]:
    source, target = databases
    env = {"RESUMABLE_EXAMPLE_ORDERS_SOURCE": source,
           "RESUMABLE_EXAMPLE_ORDERS_TARGET": target}
    return airflow_home.run(
        RunSpec(DAG_ID, datetime(2026, 3, 1, tzinfo=timezone.utc)),
        RunSpec(DAG_ID, datetime(2026, 3, 2, tzinfo=timezone.utc),
                setup=f"{__name__}:add_rows_between_runs", setup_kwargs={"source": source}),
        env=env)


def test_both_runs_succeed_in_one_try(airflow_home: AirflowHome,
                                      runs: list[DagRunResult]) -> None:
    assert [r.state for r in runs] == ["success", "success"]
    assert runs[0].run_id != runs[1].run_id
    for run in runs:
        [ti] = airflow_home.db.task_tries(DAG_ID, run.run_id).values()
        assert (ti.task_id, ti.state, ti.try_number) == ("load_orders", "success", 1)


def test_the_cursor_advanced_in_airflows_asset_store(airflow_home: AirflowHome,
                                                     runs: list[DagRunResult]) -> None:
    after_first = runs[1].report["asset_state_before"][KEY]
    assert (after_first["type"], after_first["cursor"]) == (
        "datetime", (T0 + timedelta(minutes=5)).isoformat())
    after_second = airflow_home.db.asset_state(ASSET)[KEY]
    assert (after_second["type"], after_second["cursor"]) == (
        "datetime", (T0 + timedelta(minutes=7)).isoformat())


def test_the_second_run_loaded_only_the_new_rows(airflow_home: AirflowHome,
                                                 runs: list[DagRunResult],
                                                 databases: tuple[str, str]) -> None:
    first = airflow_home.db.xcom(DAG_ID, runs[0].run_id, "load_orders")
    second = airflow_home.db.xcom(DAG_ID, runs[1].run_id, "load_orders")
    assert first == {"window_start": INITIAL.isoformat(), "selected": 5,
                     "loaded": [1, 2, 3, 4, 5]}
    # The second window starts at the stored cursor: it re-reads id 5 (same timestamp)
    # and drops it as already loaded, and keeps id 6, new at that timestamp.
    assert second == {"window_start": (T0 + timedelta(minutes=5)).isoformat(),
                      "selected": 4, "loaded": [6, 7, 8]}
    assert list(target_loads(databases[1]).items()) == [(i, 1) for i in range(1, 9)]

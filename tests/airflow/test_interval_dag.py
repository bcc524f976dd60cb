"""The interval-load DAG in real Airflow: each run loads its data interval, and only
scheduled or manual runs move the cursor in Airflow's asset store.

``resumable_interval_load`` (``@watermark(..., allow_external_schedulers=True)``, a
``CronDataIntervalTimetable("@daily")``) reads a source holding orders on three days,
A, B and C (one at each day's first instant, to check the interval's open end):

1. ``dag.test(logical_date=B 00:00)``: its data interval is [A, B), the last whole day
   before the logical date; it loads A's orders, and the stored cursor becomes A's last
   ``updated_at`` (read by the next run's setup, in the child, before that run);
2. ``dag.test(logical_date=C 12:00)``: [B, C); it loads B's orders and the cursor moves to
   B's last. (Off midnight, so that the logical date C 00:00 stays free for step 3.)
   Both runs are ``run_type`` "manual" (``dag.test()`` creates nothing else);
3. ``airflow backfill create`` for day C, then ``airflow tasks test`` of that run (the CLI
   finds the run by its ID and runs the task in-process, as ``dag.test()`` does): a
   ``run_type`` "backfill" run over [C, C+1d). It loads C's orders, which lie past the
   stored cursor, and the stored watermark is unchanged: a backfill does not write it;
4. the control: ``airflow tasks test`` for the logical date C+1d (a manual run the CLI
   creates, over the same [C, C+1d)) loads C again and does move the cursor to C's last:
   the same code path writes when the run is not a backfill.

The module also records why the DAG does not use ``schedule="@daily"``: in Airflow 3.3 that
string gives a ``CronTriggerTimetable``, whose interval for a logical date D is [D, D).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from examples.incremental_load.load import KEY
from tests.examples.incremental_support import seeded, target_loads
from tests.support.airflow_env import AirflowHome, DagRunResult, MetadataDB, RunSpec

DAG_ID = "resumable_interval_load"
TASK_ID = "load_orders_by_day"
ASSET = "orders_by_day"
UTC = timezone.utc
DAY = timedelta(days=1)
A = datetime(2026, 1, 5, tzinfo=UTC)  # after the DAG's start_date; past (backfill needs it)
B, C = A + DAY, A + 2 * DAY
H = timedelta(hours=1)
SOURCE = {1: A, 2: A + 12 * H, 3: B - timedelta(seconds=1),        # day A
          4: B, 5: B + 9.5 * H, 6: B + 23 * H,                        # day B
          7: C, 8: C + 6 * H, 9: C + 18 * H}                          # day C
ON = {day: sorted(i for i, at in SOURCE.items() if day <= at < day + DAY) for day in (A, B, C)}
FIRST, SECOND = B, C + 12 * H  # the logical dates of the two dag.test() runs
BACKFILL_DAY = C
CONTROL = C + DAY  # the logical date of the control run


@contextlib.contextmanager
def cron_string_interval(logical_date: str) -> Iterator[dict[str, Any]]:
    """In the child: the data interval a ``schedule="@daily"`` DAG gets for a manual run,
    computed as ``dag.test()`` computes it."""
    from airflow.sdk import DAG
    from airflow.sdk import timezone as airflow_tz
    from airflow.serialization.encoders import coerce_to_core_timetable

    from examples.dags._common import START  # imports Airflow: only in the child

    dag = DAG("resumable_interval_probe", schedule="@daily", start_date=START)
    when = airflow_tz.coerce_datetime(datetime.fromisoformat(logical_date))
    interval = coerce_to_core_timetable(dag.timetable).infer_manual_data_interval(run_after=when)
    yield {"timetable": type(dag.timetable).__name__, "start": interval.start.isoformat(),
           "end": interval.end.isoformat()}


@contextlib.contextmanager
def read_cursor() -> Iterator[dict[str, Any]]:
    """In the child, before the second run: the watermark the first run stored."""
    db = MetadataDB.from_env()
    try:
        yield {"asset_state_before": db.asset_state(ASSET)}
    finally:
        db.close()


@dataclass(frozen=True)
class CliRuns:
    """What steps 3 and 4 did, and the stored watermark around each."""

    backfill_run_id: str
    state_before_backfill: dict[str, Any]
    state_after_backfill: dict[str, Any]
    state_after_control: dict[str, Any]


@dataclass(frozen=True)
class DagRunRow:
    run_id: str
    run_type: str
    triggered_by: str | None
    logical_date: str
    data_interval_start: str
    data_interval_end: str


def _iso(value: str) -> str:
    """A SQLite datetime column (naive UTC text) as an aware ISO string."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC).isoformat()


def dag_runs(home: AirflowHome) -> dict[str, DagRunRow]:
    """Every run of the DAG in the metadata DB, by run ID."""
    engine = create_engine(f"sqlite:///{home.db.path}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT run_id, run_type, triggered_by, logical_date, data_interval_start, "
                "data_interval_end FROM dag_run WHERE dag_id = :d"), {"d": DAG_ID}).all()
    finally:
        engine.dispose()
    return {r.run_id: DagRunRow(r.run_id, r.run_type, r.triggered_by, _iso(r.logical_date),
                                _iso(r.data_interval_start), _iso(r.data_interval_end))
            for r in rows}


def task_state(home: AirflowHome, run_id: str) -> tuple[str | None, int]:
    [ti] = home.db.task_tries(DAG_ID, run_id).values()
    assert ti.task_id == TASK_ID
    return ti.state, ti.try_number


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return seeded(tmp_path_factory.mktemp("orders_by_day"),
                  [{"id": i, "updated_at": at, "amount": 10 * i} for i, at in SOURCE.items()])


@pytest.fixture(scope="module")
def env(databases: tuple[str, str]) -> dict[str, str]:
    source, target = databases
    return {"RESUMABLE_EXAMPLE_ORDERS_SOURCE": source, "RESUMABLE_EXAMPLE_ORDERS_TARGET": target}


@pytest.fixture(scope="module")
def runs(airflow_home: AirflowHome, env: dict[str, str]) -> list[DagRunResult]:
    return airflow_home.run(
        RunSpec(DAG_ID, FIRST, setup=f"{__name__}:cron_string_interval",
                setup_kwargs={"logical_date": FIRST.isoformat()}),
        RunSpec(DAG_ID, SECOND, setup=f"{__name__}:read_cursor"),
        env=env)


@pytest.fixture(scope="module")
def cli_runs(airflow_home: AirflowHome, env: dict[str, str],
             runs: list[DagRunResult]) -> CliRuns:
    before = airflow_home.db.asset_state(ASSET)
    day = BACKFILL_DAY.date().isoformat()
    airflow_home.cli("backfill", "create", "--dag-id", DAG_ID, "--from-date", day,
                     "--to-date", day, env=env)
    [backfill] = [r.run_id for r in dag_runs(airflow_home).values() if r.run_type == "backfill"]
    airflow_home.cli("tasks", "test", DAG_ID, TASK_ID, backfill, env=env)
    after_backfill = airflow_home.db.asset_state(ASSET)
    # The control: `tasks test` for a logical date without a run creates a manual run,
    # runs the task in it and deletes the run (with its XCom) at the end; the asset
    # store and the target keep what the task wrote.
    airflow_home.cli("tasks", "test", DAG_ID, TASK_ID, CONTROL.isoformat(), env=env)
    return CliRuns(backfill, before, after_backfill, airflow_home.db.asset_state(ASSET))


def cursor(state: dict[str, Any]) -> tuple[str, str]:
    value = state[KEY]
    return value["type"], value["cursor"]


def test_the_source_has_three_days_of_orders() -> None:
    assert ON == {A: [1, 2, 3], B: [4, 5, 6], C: [7, 8, 9]}


def test_a_cron_string_schedule_has_a_zero_width_interval(runs: list[DagRunResult]) -> None:
    # Why the DAG uses CronDataIntervalTimetable: with schedule="@daily" the window of a
    # run for the logical date D would be [D, D), empty.
    assert runs[0].report == {"timetable": "CronTriggerTimetable",
                              "start": FIRST.isoformat(), "end": FIRST.isoformat()}


def test_both_dag_test_runs_succeed_in_one_try_as_manual_runs(
        airflow_home: AirflowHome, runs: list[DagRunResult]) -> None:
    assert [r.state for r in runs] == ["success", "success"]
    for run in runs:
        assert task_state(airflow_home, run.run_id) == ("success", 1)
    rows = dag_runs(airflow_home)
    # what the decorator's backfill detection reads: context["dag_run"].run_type
    assert [(rows[r.run_id].run_type, rows[r.run_id].triggered_by) for r in runs] == [
        ("manual", "TEST"), ("manual", "TEST")]


def test_each_run_covers_the_last_whole_day_before_its_logical_date(
        airflow_home: AirflowHome, runs: list[DagRunResult]) -> None:
    rows = dag_runs(airflow_home)
    measured = [(rows[r.run_id].logical_date, rows[r.run_id].data_interval_start,
                 rows[r.run_id].data_interval_end) for r in runs]
    assert measured == [(FIRST.isoformat(), A.isoformat(), B.isoformat()),   # D 00:00: [D-1d, D)
                        (SECOND.isoformat(), B.isoformat(), C.isoformat())]  # C 12:00: [B, C)


def test_each_run_loaded_exactly_the_orders_of_its_interval(
        airflow_home: AirflowHome, runs: list[DagRunResult]) -> None:
    first = airflow_home.db.xcom(DAG_ID, runs[0].run_id, TASK_ID)
    second = airflow_home.db.xcom(DAG_ID, runs[1].run_id, TASK_ID)
    # B's order at B 00:00 (id 4) is not in [A, B); C's at C 00:00 (id 7) not in [B, C)
    assert first == {"window_start": A.isoformat(), "window_end": B.isoformat(),
                     "loaded": ON[A]}
    assert second == {"window_start": B.isoformat(), "window_end": C.isoformat(),
                      "loaded": ON[B]}


def test_the_cursor_in_airflows_asset_store_follows_the_manual_runs(
        runs: list[DagRunResult], cli_runs: CliRuns) -> None:
    assert cursor(runs[1].report["asset_state_before"]) == (
        "datetime", max(SOURCE[i] for i in ON[A]).isoformat())
    assert cursor(cli_runs.state_before_backfill) == (
        "datetime", max(SOURCE[i] for i in ON[B]).isoformat())


def test_a_backfill_run_loads_its_interval_and_leaves_the_cursor_alone(
        airflow_home: AirflowHome, cli_runs: CliRuns) -> None:
    row = dag_runs(airflow_home)[cli_runs.backfill_run_id]
    assert (row.run_type, row.triggered_by) == ("backfill", "BACKFILL")
    assert (row.logical_date, row.data_interval_start, row.data_interval_end) == (
        C.isoformat(), C.isoformat(), (C + DAY).isoformat())
    assert task_state(airflow_home, cli_runs.backfill_run_id)[0] == "success"
    assert airflow_home.db.xcom(DAG_ID, cli_runs.backfill_run_id, TASK_ID) == {
        "window_start": C.isoformat(), "window_end": (C + DAY).isoformat(), "loaded": ON[C]}
    # C's orders lie past the stored cursor: had the backfill written, it would have moved
    assert cli_runs.state_after_backfill == cli_runs.state_before_backfill


def test_the_control_manual_run_over_the_same_day_moves_the_cursor(cli_runs: CliRuns) -> None:
    assert cursor(cli_runs.state_after_control) == (
        "datetime", max(SOURCE[i] for i in ON[C]).isoformat())


def test_the_target_holds_every_order_once_per_load(
        databases: tuple[str, str], cli_runs: CliRuns) -> None:
    # A and B once (the manual runs); C twice (the backfill, then the control)
    assert list(target_loads(databases[1]).items()) == [
        (i, 2 if i in ON[C] else 1) for i in SOURCE]

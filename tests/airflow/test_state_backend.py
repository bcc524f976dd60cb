"""``store_client.airflow.StoreBackend`` as Airflow 3.3.2's state backend, in real DAG runs.

Each run is a ``dag.test()`` in a child process of a home whose DAG folder holds
``state_backend_dags`` and whose ``RESUMABLE_STORE_URL`` is a SQLite file of its own:

- worker side (``[workers] state_store_backend``): a task writes a 300 KiB value to its
  task store and to its asset's store, dies, and reads both back on its retry; Airflow's
  tables hold only references, our store the values;
- server side (``[state_store] backend``): Airflow's state rows are ours, read back with
  ``store_client.connect``; NEVER_EXPIRE is a NULL ``expires_at``; ``resumable cleanup``
  deletes only the expired row;
- both: the reference and the value share a scope and key without colliding, and the
  mixin, ``@checkpoint`` and ``@watermark`` run unchanged (``tools_dag``).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from examples.databricks import DatabricksSubmitRunOperator
from resumable import ResumableJobMixin
from resumable.demo import JobServer
from store_client import TaskScope, connect
from store_client._airflow_orphans import delete_orphans, orphaned_values
from store_client._airflow_refs import ref_for, value_key
from tests.support import require_or_skip
from tests.support.airflow_env import (
    AirflowHome,
    DagRunResult,
    RunSpec,
    airflow_installed,
    fail_first_try,
)

BIG_DAG, SMALL_DAG = "resumable_state_backend_big", "resumable_state_backend_small"
BACKEND = "store_client.airflow.StoreBackend"
WORKER = {"AIRFLOW__WORKERS__STATE_STORE_BACKEND": BACKEND}
SERVER = {"AIRFLOW__STATE_STORE__BACKEND": BACKEND}
BIG = {"rows": ["x" * 1024] * 300}
ASSET = "resumable_big_asset"
ROWS_ASSET = "resumable_state_backend_rows"


@pytest.fixture(scope="module")
def home() -> Iterator[AirflowHome]:
    if not airflow_installed():
        require_or_skip("apache-airflow is not installed: pip install 'resumable[airflow]'")
    made = AirflowHome(dags_folder=Path(__file__).parent / "state_backend_dags")
    try:
        made.migrate()
        yield made
    finally:
        made.close()


def _url(home: AirflowHome) -> str:
    return f"sqlite:///{home.path / 'resumable-store.db'}"


def _run(home: AirflowHome, dag_id: str, day: int, env: dict[str, str]) -> DagRunResult:
    [result] = home.run(RunSpec(dag_id, logical_date=datetime(2026, 6, day,
                                                              tzinfo=timezone.utc)), env=env)
    assert result.state == "success", result
    return result


def _resumable(*args: str) -> str:
    """What the ``resumable`` command prints (it must succeed)."""
    done = subprocess.run([str(Path(sys.executable).with_name("resumable")), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _expiries(home: AirflowHome, dag_id: str, run_id: str) -> dict[str, Any]:
    engine = create_engine(_url(home))
    try:
        with engine.connect() as conn:
            return dict(conn.execute(text(
                "SELECT key, expires_at FROM resumable_task_state WHERE dag_id = :d AND "
                "run_id = :r"), {"d": dag_id, "r": run_id}).all())
    finally:
        engine.dispose()


def test_worker_side_big_values_survive_a_retry_and_airflow_keeps_references(
        home: AirflowHome) -> None:
    run = _run(home, BIG_DAG, 1, WORKER)
    assert home.db.xcom(BIG_DAG, run.run_id, "big_values") == {"task": True, "asset": True}
    scope = TaskScope(BIG_DAG, run.run_id, "big_values")
    [row] = home.db.task_state(BIG_DAG, run.run_id)
    assert (row.key, row.value) == ("big", {"__airflow_state_ref__": ref_for(scope, "big")})
    assert row.expires_at is None  # NEVER_EXPIRE
    asset_ref = home.db.asset_state(ASSET)["big"]["__airflow_state_ref__"]
    with connect(_url(home)) as client:
        assert client.task_store(scope).items() == {value_key("big"): BIG}
        assert client.asset_store(ASSET).get(value_key("big")) == BIG
    assert asset_ref == f"resumable:asset/name/{ASSET}/big"


def test_worker_side_delete_removes_the_value(home: AirflowHome) -> None:
    run = _run(home, SMALL_DAG, 2, WORKER)
    scope = TaskScope(SMALL_DAG, run.run_id, "small_values")
    with connect(_url(home)) as client:
        assert set(client.task_store(scope).items()) <= {
            value_key(k) for k in ("job_id", "page", "brief")}
        assert client.task_store(scope).get(value_key("gone")) is None
    assert "gone" not in {r.key for r in home.db.task_state(SMALL_DAG, run.run_id)}


def test_server_side_state_is_ours_and_cleanup_deletes_only_the_expired(
        home: AirflowHome) -> None:
    run = _run(home, SMALL_DAG, 3, {**SERVER,
                                     "AIRFLOW__STATE_STORE__DEFAULT_RETENTION_DAYS": "2"})
    assert home.db.task_state(SMALL_DAG, run.run_id) == []  # nothing in Airflow's table
    scope = TaskScope(SMALL_DAG, run.run_id, "small_values")
    expiries = _expiries(home, SMALL_DAG, run.run_id)
    assert set(expiries) == {"job_id", "page", "brief"}
    assert expiries["job_id"] is None and expiries["brief"]
    page_expires = datetime.fromisoformat(expiries["page"]).replace(tzinfo=timezone.utc)
    left = page_expires - datetime.now(timezone.utc)
    assert timedelta(days=1, hours=23) < left <= timedelta(days=2)  # default_retention_days
    with connect(_url(home)) as client:
        assert client.task_store(scope).get("job_id") == "j-1"
        deadline = time.monotonic() + 10
        while client.task_store(scope).get("brief") is not None:  # 1 s retention
            assert time.monotonic() < deadline, "the 1 s value never expired"
            time.sleep(0.2)
    assert _resumable("cleanup", "--url", _url(home))
    assert set(_expiries(home, SMALL_DAG, run.run_id)) == {"job_id", "page"}
    listed = _resumable("list", "--url", _url(home), "--dag", SMALL_DAG, "--run", run.run_id,
                        "--task", "small_values")  # our CLI sees what the task wrote
    assert 'job_id\t"j-1"' in listed and "page\t3" in listed


def test_both_sides_the_reference_and_the_value_do_not_collide(home: AirflowHome) -> None:
    run = _run(home, BIG_DAG, 4, {**WORKER, **SERVER})
    assert home.db.xcom(BIG_DAG, run.run_id, "big_values") == {"task": True, "asset": True}
    assert home.db.task_state(BIG_DAG, run.run_id) == []
    scope = TaskScope(BIG_DAG, run.run_id, "big_values")
    with connect(_url(home)) as client:
        items = client.task_store(scope).items()
    assert items == {"big": {"__airflow_state_ref__": ref_for(scope, "big")},
                     value_key("big"): BIG}
    assert _expiries(home, BIG_DAG, run.run_id) == {"big": None, value_key("big"): None}


TOOLS_DAG = "resumable_state_backend_tools"


@contextlib.contextmanager
def crash_while_polling() -> Iterator[Callable[[], Any]]:
    """In the child: the job's try 1 dies in ``poll_until_complete``, its ID stored."""
    with fail_first_try(ResumableJobMixin, "poll_until_complete") as crashes:
        yield lambda: {"crashes": crashes}


def test_the_mixin_checkpoint_and_watermark_run_unchanged_with_both_sides_on(
        home: AirflowHome, job_server: JobServer) -> None:
    env = {**WORKER, **SERVER, "RESUMABLE_EXAMPLE_DATABRICKS_HOST": job_server.url}
    first, second = home.run(
        RunSpec(TOOLS_DAG, datetime(2026, 7, 5, tzinfo=timezone.utc),
                setup=f"{__name__}:crash_while_polling"),
        RunSpec(TOOLS_DAG, datetime(2026, 7, 6, tzinfo=timezone.utc)), env=env)
    assert (first.state, second.state) == ("success", "success")
    assert first.report == {"crashes": ["job[-1] try 1: poll_until_complete"]}
    assert len(job_server.submissions()) == 2  # one job per run: try 2 reattached
    assert home.db.xcom(TOOLS_DAG, first.run_id, "pages") == {
        "resumed_from": 5, "pages": [6, 7, 8, 9, 10]}
    assert home.db.xcom(TOOLS_DAG, first.run_id, "rows") == [1, 2, 3, 4, 5]
    assert home.db.xcom(TOOLS_DAG, second.run_id, "rows") == [6]
    for run in (first, second):  # nothing of it in Airflow's own table
        assert home.db.task_state(TOOLS_DAG, run.run_id) == []
    with connect(_url(home)) as client:
        job = client.task_store(TaskScope(TOOLS_DAG, first.run_id, "job"))
        key = DatabricksSubmitRunOperator.external_id_key
        assert isinstance(job.get(key), dict)  # the reference...
        assert job.get(value_key(key)) == job_server.submissions()[0]["run_id"]  # ...the ID
        assert client.asset_store(ROWS_ASSET).get("watermark") is not None


def test_worker_side_values_whose_reference_airflow_cleaned_are_swept(
        home: AirflowHome) -> None:
    run = _run(home, SMALL_DAG, 8, WORKER)
    scope = TaskScope(SMALL_DAG, run.run_id, "small_values")
    airflow_db = f"sqlite:///{home.db.path}"
    with connect(_url(home)) as client:
        assert orphaned_values(client, airflow_db, grace=timedelta(0)) == []
        time.sleep(1.1)  # "brief" (1 s) has expired: Airflow's own clean deletes its reference
        home.cli("state-store", "clean")
        assert "brief" not in {r.key for r in home.db.task_state(SMALL_DAG, run.run_id)}
        assert orphaned_values(client, airflow_db) == []  # younger than the grace: kept
        orphans = orphaned_values(client, airflow_db, grace=timedelta(0))
        assert (scope, "brief") in orphans  # and an earlier worker-side run's "brief"
        assert {key for _, key in orphans} == {"brief"}
        assert delete_orphans(client, orphans) == len(orphans)
        assert set(client.task_store(scope).items()) == {value_key("job_id"), value_key("page")}
    assert "would delete 0 worker-side values whose reference Airflow no longer holds" in \
        _resumable("cleanup", "--dry-run", "--url", _url(home), "--airflow-db", airflow_db)

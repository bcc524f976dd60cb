"""``resumable jobs --airflow-db`` lists a job a real Airflow 3.3.2 task stored in Airflow.

``resumable_databricks`` runs in ``dag.test()`` against the job server (a real HTTP
process), as in ``test_job_dags``: try 1 dies while polling, after the run ID was stored,
and try 2 reattaches. The mixin keeps the ID and its record in Airflow's own
``task_state_store``. Then the console script, in its own process with no Airflow
variable set, reads that home's metadata database (the URL is the home's ``[database]
sql_alchemy_conn``, read from its ``airflow.cfg``) and must list the job; the database
file is unchanged afterwards.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from examples.databricks import DatabricksSubmitRunOperator
from resumable import ResumableJobMixin, idempotency_token_for
from resumable.demo import JobServer
from store_client import TaskScope
from tests.support.airflow_env import AirflowHome, DagRunResult, RunSpec, fail_first_try

DAG_ID, TASK_ID = "resumable_databricks", "nightly_run"
KEY = DatabricksSubmitRunOperator.external_id_key
STATUS = "TERMINATED:SUCCESS"  # the example operator's status: life cycle and result
LOGICAL_DATE = datetime(2026, 5, 1, tzinfo=timezone.utc)  # no other test runs this DAG then


@contextlib.contextmanager
def crash_while_polling() -> Iterator[Callable[[], Any]]:
    """In the child: try 1 dies in ``poll_until_complete``, after the ID was stored."""
    with fail_first_try(ResumableJobMixin, "poll_until_complete") as crashes:
        yield lambda: {"crashes": crashes}


@pytest.fixture(scope="module")
def dag_run(airflow_home: AirflowHome, job_server: JobServer) -> DagRunResult:
    env = {"RESUMABLE_EXAMPLE_DATABRICKS_HOST": job_server.url,
           "RESUMABLE_EXAMPLE_POLL_INTERVAL": "0.1"}
    [result] = airflow_home.run(RunSpec(DAG_ID, LOGICAL_DATE,
                                        setup=f"{__name__}:crash_while_polling"), env=env)
    assert result.state == "success"
    assert result.report == {"crashes": [f"{TASK_ID}[-1] try 1: poll_until_complete"]}
    return result


def _metadata_db_url(home: AirflowHome) -> str:
    """The home's ``[database] sql_alchemy_conn``, as ``airflow db migrate`` wrote it."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(home.path / "airflow.cfg")
    return config.get("database", "sql_alchemy_conn")


def _fingerprint(path: Path) -> tuple[int, int, str]:
    """Modification time, size and SHA-256 of a SQLite file, without opening it here.

    This process may hold SQLite connections to the file (``airflow_home.db``): closing
    any other descriptor of it would drop their POSIX locks (SQLite's "how to corrupt",
    2.2), and a child would then delete the WAL under them. So a child reads the bytes.
    """
    digest = subprocess.run(
        [sys.executable, "-c", "import hashlib, sys; "
         "print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())", str(path)],
        capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size, digest


def _resumable_jobs(*args: str) -> list[dict[str, Any]]:
    exe = Path(sys.executable).with_name("resumable")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "RESUMABLE_AIRFLOW"))}
    done = subprocess.run([str(exe), "jobs", *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_the_console_script_lists_the_job_airflow_stored(
        airflow_home: AirflowHome, job_server: JobServer, dag_run: DagRunResult) -> None:
    url = _metadata_db_url(airflow_home)
    assert url == f"sqlite:///{airflow_home.path / 'airflow.db'}"
    before = _fingerprint(airflow_home.path / "airflow.db")

    listed = _resumable_jobs("--airflow-db", url, "--json")
    scope = f"{DAG_ID}/{dag_run.run_id}/{TASK_ID}"
    [row] = [r for r in listed if r["scope"] == scope]

    token = idempotency_token_for(TaskScope(DAG_ID, dag_run.run_id, TASK_ID), KEY, 0)
    [submitted] = [s for s in job_server.submissions() if s["idempotency_token"] == token]
    stored = {r.key: r.value for r in airflow_home.db.task_state(DAG_ID, dag_run.run_id)}
    assert stored[KEY] == submitted["run_id"]  # Airflow's own table holds the ID
    assert {k: row[k] for k in ("dag_id", "run_id", "task_id", "map_index", "external_id_key",
                                "external_id", "status", "phase", "generation", "token")} == {
        "dag_id": DAG_ID, "run_id": dag_run.run_id, "task_id": TASK_ID, "map_index": -1,
        "external_id_key": KEY, "external_id": submitted["run_id"], "status": STATUS,
        "phase": "finished", "generation": 0, "token": token}
    assert stored[f"resumable.job/{KEY}"]["status"] == STATUS
    assert row["submitted_at"] == stored[f"resumable.job/{KEY}"]["submitted_at"]
    assert row["age"][-1] in "smhd"

    filtered = _resumable_jobs("--airflow-db", url, "--json", "--dag", DAG_ID,
                               "--run", dag_run.run_id, "--status", STATUS)
    assert [(r["scope"], r["external_id"]) for r in filtered] == [(scope, submitted["run_id"])]
    assert _resumable_jobs("--airflow-db", url, "--json", "--run", dag_run.run_id,
                           "--status", "RUNNING") == []
    assert _fingerprint(airflow_home.path / "airflow.db") == before  # read-only

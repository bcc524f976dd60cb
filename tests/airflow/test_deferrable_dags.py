"""The deferrable Databricks DAG in real Airflow's ``dag.test()``, which runs triggers inline.

``resumable_databricks_deferrable`` runs ``DatabricksRun(deferrable=True)`` against the
job server (a real HTTP process). In the child process a setup counts the calls that
matter: ``submit_job``, the trigger's watches (``resumable._trigger.watch_job``) and
``execute_complete``. Scenarios:

- no crash: one try submits, defers, the trigger sees the run end, the task resumes and
  returns the result;
- a crash right after ``runs/submit`` answered, before the ID was stored: the retry
  adopts the run ``find_job`` finds under the same token, and defers on it;
- a crash after the ID was stored, before the task deferred: the retry reconnects.

A "crash" is :func:`~tests.support.airflow_env.fail_first_try` (a try that raises right
where a SIGKILL would land; ``retries=1``, no delay). Every scenario ends with exactly
one ``submit_job`` call and one run at the server, the result in XCom, the ID in
Airflow's ``task_state_store`` never expiring, and the record in phase ``finished``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from unittest import mock

import pytest

from examples.databricks import DatabricksSubmitRunOperator
from resumable import ResumableJobMixin, idempotency_token_for
from resumable.demo import JobServer
from store_client import TaskScope
from tests.support.airflow_env import AirflowHome, DagRunResult, RunSpec, fail_first_try

DAG_ID, TASK_ID = "resumable_databricks_deferrable", "nightly_run"
KEY = DatabricksSubmitRunOperator.external_id_key
CRASHES = {
    "none": None,
    "after_submit": (DatabricksSubmitRunOperator, "submit_job"),
    "after_persist": (ResumableJobMixin, "persist_job_id"),
}


@contextlib.contextmanager
def counted(crash: str) -> Iterator[Any]:
    """Count submissions, trigger watches and completions; crash try 1 if asked to."""
    import resumable._trigger as trigger_module

    calls = {"submit_job": 0, "watch_job": 0, "execute_complete": 0}

    def counting(owner: Any, name: str) -> Any:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        return mock.patch.object(owner, name, wrapper)

    with contextlib.ExitStack() as stack:
        stack.enter_context(counting(DatabricksSubmitRunOperator, "submit_job"))
        stack.enter_context(counting(trigger_module, "watch_job"))
        stack.enter_context(counting(ResumableJobMixin, "execute_complete"))
        point = CRASHES[crash]
        crashes = stack.enter_context(fail_first_try(*point, after=True)) if point else []
        yield lambda: {"calls": calls, "crashes": crashes}


@pytest.fixture(scope="module")
def runs(airflow_home: AirflowHome, job_server: JobServer) -> dict[str, DagRunResult]:
    """The three scenarios: one child process, three DAG runs."""
    env = {"RESUMABLE_EXAMPLE_DATABRICKS_HOST": job_server.url,
           "RESUMABLE_EXAMPLE_POLL_INTERVAL": "0.1"}
    specs = [RunSpec(DAG_ID, datetime(2026, 3, day, tzinfo=timezone.utc),
                     setup=f"{__name__}:counted", setup_kwargs={"crash": crash})
             for day, crash in enumerate(CRASHES, start=1)]
    results = airflow_home.run(*specs, env=env)
    return dict(zip(CRASHES, results, strict=True))


@pytest.mark.parametrize("crash", list(CRASHES))
def test_the_deferred_task_completes_with_one_submission(
        airflow_home: AirflowHome, job_server: JobServer, runs: dict[str, DagRunResult],
        crash: str) -> None:
    result = runs[crash]
    assert result.state == "success", result
    report = result.report
    tries = 1 if crash == "none" else 2
    expected_crash = {"none": [], "after_submit": ["nightly_run[-1] try 1: after submit_job"],
                      "after_persist": ["nightly_run[-1] try 1: after persist_job_id"]}
    assert report["crashes"] == expected_crash[crash]
    # One submission; the wait happened in the (inline) trigger, once, then the task resumed.
    assert report["calls"] == {"submit_job": 1, "watch_job": 1, "execute_complete": 1}
    [ti] = airflow_home.db.task_tries(DAG_ID, result.run_id).values()
    assert (ti.state, ti.try_number) == ("success", tries)

    token = idempotency_token_for(TaskScope(DAG_ID, result.run_id, TASK_ID), KEY, 0)
    [run] = [s for s in job_server.submissions() if s["idempotency_token"] == token]
    assert run["state"]["result_state"] == "SUCCESS"
    assert airflow_home.db.xcom(DAG_ID, result.run_id, TASK_ID) == {
        "run_id": run["run_id"], "result_state": "SUCCESS"}

    rows = {row.key: row for row in airflow_home.db.task_state(DAG_ID, result.run_id)}
    assert rows[KEY].value == run["run_id"] and rows[KEY].expires_at is None
    record = rows[f"resumable.job/{KEY}"]
    assert record.expires_at is None
    assert (record.value["phase"], record.value["generation"], record.value["token"]) == (
        "finished", 0, token)


def test_one_run_per_dag_run_at_the_server(job_server: JobServer,
                                           runs: dict[str, DagRunResult]) -> None:
    assert len(job_server.submissions()) == len(CRASHES)

"""A succeeded task cleared in a real Airflow and run again submits one new job.

How it works: the package's cluster runs ``dags/resumable_clear.py`` once; its job
succeeds. The test clears the task through the REST API (``clearTaskInstances`` with
``dry_run`` and ``only_failed`` off, as FACTS notes), waits for the rerun, and counts the
job server's records: two runs with two tokens (generations 0 and 1), the XCom holds the
new run's result, and the job record carries the clear number.

A second run's first job fails (conf ``fail_until_cleared``), so the task fails; cleared,
it resubmits once (generation 1) and succeeds.

What it does not do: clear a running task in the cluster (Airflow then kills it and
waits ``retry_delay``; the decision row is tested in tests/resumable/test_job_clears.py).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from resumable import idempotency_token_for
from store_client import TaskScope
from tests.airflow_cluster.conftest import Setup

DAG_ID, TASK_ID, KEY = "resumable_clear", "run_job", "databricks_run_id"


def _clear(setup: Setup, run_id: str) -> None:
    reply = httpx.post(f"{setup.cluster.url}/api/v2/dags/{DAG_ID}/clearTaskInstances",
                       timeout=30, json={"dry_run": False, "only_failed": False,
                                         "task_ids": [TASK_ID], "dag_run_id": run_id,
                                         "reset_dag_runs": True})
    assert reply.status_code == 200, reply.text


def _runs_of(setup: Setup, run_id: str) -> list[dict[str, Any]]:
    prefix = idempotency_token_for(TaskScope(DAG_ID, run_id, TASK_ID), KEY, 0)[:-3]
    return [r for r in setup.clear_server.submissions()
            if r["idempotency_token"].startswith(prefix)]


def _clear_and_rerun(setup: Setup, run_id: str) -> None:
    af = setup.cluster
    _clear(setup, run_id)
    deadline = time.monotonic() + 120
    while len(af.task_tries(DAG_ID, run_id, TASK_ID)) < 2 or \
            af.run_state(DAG_ID, run_id) not in ("success", "failed"):
        assert time.monotonic() < deadline, af.diagnostics()
        time.sleep(0.5)
    assert af.run_state(DAG_ID, run_id) == "success", af.diagnostics()


def test_a_cleared_succeeded_task_submits_one_new_job(setup: Setup) -> None:
    af = setup.cluster
    run_id = af.trigger(DAG_ID)
    assert af.wait_for_run(DAG_ID, run_id, timeout=120).state == "success"
    [first] = _runs_of(setup, run_id)
    assert af.xcom(DAG_ID, run_id, TASK_ID) == {"run_id": first["run_id"],
                                                "result_state": "SUCCESS"}

    _clear_and_rerun(setup, run_id)
    runs = _runs_of(setup, run_id)
    assert len(runs) == 2, runs  # one new job, not the old result, not two
    assert runs[0]["idempotency_token"].endswith("-g0")
    assert runs[1]["idempotency_token"].endswith("-g1")
    assert af.xcom(DAG_ID, run_id, TASK_ID) == {"run_id": runs[1]["run_id"],
                                                "result_state": "SUCCESS"}
    rows = {r.key: r for r in af.task_state_rows(DAG_ID, run_id) if r.task_id == TASK_ID}
    assert rows[KEY].value == runs[1]["run_id"] and rows[KEY].expires_at is None
    record = rows[f"resumable.job/{KEY}"].value
    assert (record["generation"], record["phase"], record["clear_number"]) == (
        1, "finished", 1)


def test_a_task_cleared_after_its_job_failed_resubmits_once(setup: Setup) -> None:
    af = setup.cluster
    run_id = af.trigger(DAG_ID, conf={"fail_until_cleared": True})
    assert af.wait_for_run(DAG_ID, run_id, timeout=120).state == "failed"
    [failed] = _runs_of(setup, run_id)
    assert failed["state"]["result_state"] == "FAILED"

    _clear_and_rerun(setup, run_id)
    runs = _runs_of(setup, run_id)
    assert [r["idempotency_token"][-3:] for r in runs] == ["-g0", "-g1"], runs
    assert runs[1]["state"]["result_state"] == "SUCCESS"
    assert af.xcom(DAG_ID, run_id, TASK_ID) == {"run_id": runs[1]["run_id"],
                                                "result_state": "SUCCESS"}

"""A deferrable task SIGKILLed between submit and defer: the retry defers onto the same job.

How it works: the package's cluster (with a real ``airflow triggerer``) runs
``dags/resumable_defer.py`` with the conf ``kill_after_persist``: try 1 submits the run,
stores its ID, and SIGKILLs its own process before it can defer (see
``deferrable_operator.py``). Airflow retries in a new process; ``get_resume_decision``
finds the stored ID of a running job and answers RECONNECT, so try 2 defers onto that
job without submitting, the triggerer polls it, and the task completes. Evidence: the
operator's notes (one ``submit``, by try 1; ``killed`` by try 1; ``poll`` notes from the
triggerer about that run ID; the ``result`` in try 2), the job server's records (one run
under the generation-0 token), and Airflow's own (two tries in two PIDs, success).

What it does not do: kill before the ID is stored (``dag.test()`` covers that case in
``tests/airflow/test_deferrable_dags.py``: the intent and token let the retry find it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from resumable import idempotency_token_for
from store_client import TaskScope
from tests.airflow_cluster.conftest import Setup

DAG_ID, TASK_ID, ID_KEY = "resumable_defer", "run_job", "databricks_run_id"


def _notes(path: Path, run_id: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    notes = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [n for n in notes if n.get("dag_run") in (run_id, None)]


def test_a_retry_after_a_kill_between_submit_and_defer_defers_onto_the_same_job(
        setup: Setup) -> None:
    af = setup.cluster
    run_id = af.trigger(DAG_ID, conf={"run_seconds": 8, "kill_after_persist": True})
    outcome = af.wait_for_run(DAG_ID, run_id, timeout=180)
    notes = _notes(setup.defer_notes, run_id)
    why = f"notes: {notes}\n{af.diagnostics()}"
    assert outcome.state == "success", why

    token = idempotency_token_for(TaskScope(DAG_ID, run_id, TASK_ID), ID_KEY, 0)
    jobs = [j for j in setup.defer_server.submissions() if j["idempotency_token"] == token]
    assert len(jobs) == 1, why
    job = jobs[0]

    mine = [n for n in notes if n.get("dag_run") == run_id]
    assert [n["try"] for n in mine if n["event"] == "submit"] == [1], why
    killed = [n for n in mine if n["event"] == "killed"]
    assert [(n["try"], n["run_id"]) for n in killed] == [(1, job["run_id"])], why
    assert [n["try"] for n in mine if n["event"] == "start"] == [1, 2], why
    [result] = [n for n in mine if n["event"] == "result"]
    assert result["try"] == 2
    assert result["result"] == {"run_id": job["run_id"], "result_state": "SUCCESS"}
    polls = [n for n in notes if n["event"] == "poll" and n["run_id"] == job["run_id"]]
    assert polls, why  # the triggerer polled the job try 1 submitted
    assert all(p["pid"] not in (n["pid"] for n in mine) for p in polls)  # in its own process

    tries = af.task_tries(DAG_ID, run_id, TASK_ID)
    assert [t.try_number for t in tries] == [1, 2], tries
    assert tries[0].pid != tries[1].pid and tries[-1].state == "success"
    assert af.xcom(DAG_ID, run_id, TASK_ID) == result["result"]

"""A task process SIGKILLed mid-job under a real scheduler: the retry reattaches, one job runs.

How it works: a real Airflow 3.3 (api-server, dag-processor, scheduler with
``LocalExecutor``; :class:`tests.support.airflow_cluster.AirflowCluster`) runs the DAG in
``dags/resumable_kill.py`` against the Databricks-shaped job server of
``resumable.demo.JobServer`` (a real HTTP process). Try 1 submits the run, stores its ID in
Airflow's task state store (over the Execution API), sees it RUNNING and SIGKILLs its own
process. Airflow retries in a new process (the supervisor derives ``up_for_retry`` from the
signal exit, and the scheduler, told by the executor that the workload ended while the
task instance still says ``running``, marks it ``UP_FOR_RETRY``); try 2 finds the stored
ID, reattaches to the still-running job and waits for it. Evidence comes from three
independent places: the job server's own records, the notes the task appends to a file,
and Airflow's metadata DB (``task_instance``/``task_instance_history``,
``task_state_store``) read with SQLAlchemy.

The cluster and job server are the package's ``setup`` fixture (``conftest.py``), shared
with the other modules here, which must not submit jobs: this one counts the job
server's records.

What it does not do: kill the executor's worker or the supervisor (that needs Airflow's
heartbeat timeout), or run more than one DAG run. Wall time 24-34 s on 2 cores, 14-19 s of
it Airflow starting; the test process never imports Airflow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.airflow_cluster.conftest import RUN_SECONDS, Setup

DAG_ID, TASK_ID, ID_KEY = "resumable_kill", "run_job", "databricks_run_id"


def _notes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _explain(s: Setup, run_id: str) -> str:
    logs = "\n".join(f"--- try {n} ---\n{s.cluster.task_log(DAG_ID, run_id, TASK_ID, n)[-4000:]}"
                     for n in (1, 2))
    return (f"notes: {_notes(s.notes)}\njob server: {s.server.submissions()}\n{logs}\n"
            f"{s.cluster.diagnostics()}")


def test_sigkilled_task_process_is_retried_in_a_new_process_on_the_same_job(
        setup: Setup, record_property: Any) -> None:
    af = setup.cluster
    run_id = af.trigger(DAG_ID)
    outcome = af.wait_for_run(DAG_ID, run_id, timeout=120)
    why = _explain(setup, run_id) if outcome.state != "success" else ""
    assert outcome.state == "success", why

    # The job server, not the task, says how many jobs ran: exactly one, and it finished.
    jobs = setup.server.submissions()
    assert len(jobs) == 1, _explain(setup, run_id)
    job = jobs[0]
    assert job["state"] == {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS",
                            "state_message": ""}

    # Only try 1 called runs/submit (a resubmission with the same token would be deduped
    # by the server, so its records alone would not catch it).
    notes = _notes(setup.notes)
    assert [n["try"] for n in notes if n["event"] == "submit"] == [1], notes
    assert job["idempotency_token"] == next(n["token"] for n in notes if n["event"] == "submit")

    # Each try ran in its own process; try 1 died by SIGKILL while the job was RUNNING.
    by_event = {(n["event"], n["try"]): n for n in notes}
    starts = [n for n in notes if n["event"] == "start"]
    assert [n["try"] for n in starts] == [1, 2], notes
    assert starts[0]["pid"] != starts[1]["pid"], notes
    killed = by_event[("killed", 1)]
    assert (killed["run_id"], killed["status"], killed["pid"]) == \
        (job["run_id"], "RUNNING", starts[0]["pid"])
    assert ("result", 1) not in by_event and ("polling", 1) not in by_event, notes

    # Try 2 reattached to the same, still running, job and returned its result.
    assert ("polling", 2) in by_event, \
        f"try 2 found the job already ended: raise RUN_SECONDS ({RUN_SECONDS}); notes {notes}"
    polling = by_event[("polling", 2)]
    assert (polling["run_id"], polling["status"]) == (job["run_id"], "RUNNING"), notes
    assert by_event[("result", 2)]["result"] == {"run_id": job["run_id"],
                                                 "result_state": "SUCCESS"}

    # Airflow's own records agree: two tries, in the two PIDs the task saw.
    tries = af.task_tries(DAG_ID, run_id, TASK_ID)
    assert [(t.try_number, t.pid) for t in tries] == [(1, starts[0]["pid"]),
                                                       (2, starts[1]["pid"])], tries
    assert tries[-1].state == "success"

    # The job ID lives in Airflow's task_state_store and never expires.
    rows = {r.key: r for r in af.task_state_rows(DAG_ID, run_id) if r.task_id == TASK_ID}
    assert rows[ID_KEY].value == job["run_id"]
    assert rows[ID_KEY].expires_at is None
    assert rows[f"resumable.job/{ID_KEY}"].expires_at is None

    gap = polling["t"] - killed["t"]
    record_property("airflow_startup_seconds", round(af.startup_seconds, 1))
    record_property("dag_run_seconds", round(outcome.seconds, 1))
    record_property("kill_to_reattach_seconds", round(gap, 2))
    print(f"\nairflow up in {af.startup_seconds:.1f} s; run {outcome.seconds:.1f} s; "
          f"kill -> try 2 polling the same job {gap:.2f} s")

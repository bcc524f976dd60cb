"""``deferrable=True`` under a real scheduler and a real ``airflow triggerer`` process.

How it works: the package's cluster (``conftest.setup``: api-server, dag-processor,
scheduler with ``LocalExecutor``, triggerer, all on 127.0.0.1) runs ``dags/resumable_defer.py``
against its own job server (a real HTTP process). The fixture :func:`runs` drives two DAG
runs, once for the module (each takes 15-40 s):

- (c) ``plain``: the task instance is ``deferred`` (REST API) while the job server says
  its run is still running, waiting on a ``resumable._trigger.ResumableJobTrigger``
  (metadata DB); the task then completes;
- (b) ``triggerer_killed``: once the task is deferred and the triggerer has polled the
  run, the triggerer's process groups are SIGKILLed; the task stays ``deferred``; a new
  triggerer is started, takes the trigger over (its heartbeat threshold is 5 s here),
  polls the same run from its own process, and the task completes.

Evidence comes from the job server's records, the notes the operator appends (worker:
``start``, ``submit``, ``complete``, ``result``; triggerer: ``poll``, with PIDs), and
Airflow's metadata DB. Both runs end with exactly one ``runs/submit`` call, one run at
the server, one try, the result in XCom, and the job record ``finished``.

What it does not do: kill the worker while it submits (``tests/airflow`` covers retries
after a crash between submit and defer with ``dag.test()``), or run two triggerers.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from resumable import idempotency_token_for
from store_client import TaskScope
from tests.airflow_cluster.conftest import Setup

DAG_ID, TASK_ID, ID_KEY = "resumable_defer", "run_job", "databricks_run_id"
TRIGGER = "resumable._trigger.ResumableJobTrigger"
NOT_DONE = {"queued", "scheduled", "running", "deferred", "up_for_retry", None}


def _notes(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _explain(s: Setup, run_id: str) -> str:
    log = "\n".join(s.cluster.task_log(DAG_ID, run_id, TASK_ID, n)[-3000:] for n in (1, 2))
    return (f"notes: {_notes(s.defer_notes)}\njob server: {s.defer_server.submissions()}\n"
            f"{log}\n{s.cluster.diagnostics()}")


def _job_of(s: Setup, run_id: str) -> dict[str, Any]:
    """The job server's record of the DAG run's job (found by its idempotency token)."""
    token = idempotency_token_for(TaskScope(DAG_ID, run_id, TASK_ID), ID_KEY, 0)
    jobs = [j for j in s.defer_server.submissions() if j["idempotency_token"] == token]
    assert len(jobs) == 1, (token, s.defer_server.submissions())
    return jobs[0]


def _deferred(s: Setup, run_id: str) -> dict[str, Any]:
    """Wait until the task is deferred; what the cluster and the job server say then."""
    state = s.cluster.wait_for_task_state(DAG_ID, run_id, TASK_ID,
                                          {"deferred", "success", "failed"}, timeout=120)
    assert state == "deferred", _explain(s, run_id)
    return {"state": state, "job": _job_of(s, run_id)["state"]["life_cycle_state"],
            "trigger": s.cluster.task_trigger(DAG_ID, run_id, TASK_ID)}


def _plain(s: Setup) -> dict[str, Any]:
    run_id = s.cluster.trigger(DAG_ID, conf={"run_seconds": 6})
    seen = _deferred(s, run_id)
    outcome = s.cluster.wait_for_run(DAG_ID, run_id, timeout=120)
    return {"run_id": run_id, "seen": seen, "outcome": outcome.state}


def _triggerer_killed(s: Setup) -> dict[str, Any]:
    af = s.cluster
    run_id = af.trigger(DAG_ID, conf={"run_seconds": 20})
    seen = _deferred(s, run_id)
    job_id = _job_of(s, run_id)["run_id"]
    _wait(lambda: any(n["event"] == "poll" and n["run_id"] == job_id
                      for n in _notes(s.defer_notes)), 60, "the triggerer to poll the run")
    old_triggerer = _wait(lambda: (af.task_trigger(DAG_ID, run_id, TASK_ID) or {})
                          .get("triggerer_id"), 30, "the trigger to be assigned")
    killed_at = time.time()
    killed_pid = af.kill_daemon("triggerer")
    state_after_kill = af.task_instance_state(DAG_ID, run_id, TASK_ID)
    job_after_kill = _job_of(s, run_id)["state"]["life_cycle_state"]
    new_pid = af.start_daemon("triggerer")
    new_triggerer = _wait(lambda: ((af.task_trigger(DAG_ID, run_id, TASK_ID) or {})
                                   .get("triggerer_id") not in (None, old_triggerer)
                                   and af.task_trigger(DAG_ID, run_id, TASK_ID)),
                          90, "a new triggerer to take the trigger over")
    outcome = af.wait_for_run(DAG_ID, run_id, timeout=120)
    return {"run_id": run_id, "seen": seen, "job_id": job_id, "killed_at": killed_at,
            "killed_pid": killed_pid, "new_pid": new_pid, "old_triggerer": old_triggerer,
            "new_trigger": new_triggerer, "state_after_kill": state_after_kill,
            "job_after_kill": job_after_kill, "outcome": outcome.state}


@pytest.fixture(scope="module")
def runs(setup: Setup) -> dict[str, dict[str, Any]]:
    """Both scenarios, run once for the module (they are slow)."""
    setup.cluster.wait_for_daemons(timeout=90)
    return {"plain": _plain(setup), "triggerer_killed": _triggerer_killed(setup)}


@pytest.mark.parametrize("scenario", ["plain", "triggerer_killed"])
def test_the_deferred_task_completes_with_one_submission(
        setup: Setup, runs: dict[str, dict[str, Any]], scenario: str) -> None:
    af, result = setup.cluster, runs[scenario]
    run_id = result["run_id"]
    assert result["outcome"] == "success", _explain(setup, run_id)
    job = _job_of(setup, run_id)  # one run at the server for this DAG run...
    assert job["state"]["result_state"] == "SUCCESS"
    notes = [n for n in _notes(setup.defer_notes) if n.get("dag_run") == run_id]
    submits = [n for n in notes if n["event"] == "submit"]
    assert len(submits) == 1, notes  # ...and one runs/submit call (the server dedupes)
    assert submits[0]["token"] == job["idempotency_token"]

    # The worker slot was freed: the task resumed in another process than it started in.
    [start] = [n for n in notes if n["event"] == "start"]
    [complete] = [n for n in notes if n["event"] == "complete"]
    assert complete["pid"] != start["pid"], notes
    assert complete["event_"]["outcome"] == "succeeded"
    assert (complete["event_"]["external_id"], complete["event_"]["generation"]) == (
        job["run_id"], 0)
    [done] = [n for n in notes if n["event"] == "result"]
    assert done["result"] == {"run_id": job["run_id"], "result_state": "SUCCESS"}
    assert af.xcom(DAG_ID, run_id, TASK_ID) == done["result"]

    # Polled in the triggerer, not in a worker.
    polls = [n for n in _notes(setup.defer_notes)
             if n["event"] == "poll" and n["run_id"] == job["run_id"]]
    assert polls and {p["pid"] for p in polls}.isdisjoint({start["pid"], complete["pid"]})

    tries = af.task_tries(DAG_ID, run_id, TASK_ID)
    assert [(t.try_number, t.state) for t in tries] == [(1, "success")], tries
    rows = {r.key: r for r in af.task_state_rows(DAG_ID, run_id) if r.task_id == TASK_ID}
    assert rows[ID_KEY].value == job["run_id"] and rows[ID_KEY].expires_at is None
    assert rows[f"resumable.job/{ID_KEY}"].value["phase"] == "finished"


def test_the_task_is_deferred_while_its_job_runs(runs: dict[str, dict[str, Any]]) -> None:
    seen = runs["plain"]["seen"]
    assert seen["state"] == "deferred"
    assert seen["job"] in ("PENDING", "RUNNING")
    assert seen["trigger"] is not None and seen["trigger"]["classpath"] == TRIGGER


def test_a_killed_triggerer_is_replaced_and_polls_the_same_job(
        setup: Setup, runs: dict[str, dict[str, Any]]) -> None:
    result = runs["triggerer_killed"]
    assert result["state_after_kill"] == "deferred"
    assert result["job_after_kill"] in ("PENDING", "RUNNING")  # killed while the job ran
    assert result["new_trigger"]["classpath"] == TRIGGER
    assert result["new_trigger"]["triggerer_id"] != result["old_triggerer"]
    polls = [n for n in _notes(setup.defer_notes)
             if n["event"] == "poll" and n["run_id"] == result["job_id"]]
    before = {p["pid"] for p in polls if p["t"] < result["killed_at"]}
    after = {p["pid"] for p in polls if p["t"] > result["killed_at"]}
    assert before and after and before.isdisjoint(after), polls
    assert result["killed_pid"] != result["new_pid"]

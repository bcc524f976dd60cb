"""A task cleared and run again: a new job after a success, a retry after a failure.

Airflow keeps task state across a clear and raises ``dag_run.clear_number`` by one. The
contexts here carry a ``dag_run`` with that number, as Airflow's do; the real-Airflow
case runs in tests/airflow_cluster.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from resumable import ResumeAction
from resumable._job_decision import Action, decide
from resumable._job_record import JobRecord, meta_key
from store_client import TaskScope, TaskStore, connect
from tests.resumable.fake_jobs import FakeJobs, FakeOperator

FINISHED_AT_0 = JobRecord(external_id="j-1", generation=2, phase="finished", clear_number=0)
SUBMITTED_AT_0 = JobRecord(external_id="j-1", generation=2, phase="submitted",
                           clear_number=0)


@pytest.mark.parametrize(("record", "cleared", "action", "generation"), [
    (FINISHED_AT_0, True, Action.RESUBMIT, 3),
    (FINISHED_AT_0, False, Action.QUERY, 2),
    (SUBMITTED_AT_0, True, Action.QUERY, 2),  # still running or failed: a retry
    (JobRecord(external_id="j", phase="failed"), True, Action.QUERY, 0),
    (JobRecord(generation=1, phase="submitting"), True, Action.LOOK_UP, 1),
])
def test_decision_rows_for_clears(record: JobRecord, cleared: bool, action: Action,
                                  generation: int) -> None:
    decision = decide(record, None, cleared=cleared)
    assert (decision.action, decision.generation) == (action, generation)


@pytest.mark.parametrize(("stored", "current", "cleared"), [
    (0, 1, True), (1, 1, False), (2, 1, False), (None, 1, True), (None, 0, False),
    (0, None, False),
])
def test_cleared_since(stored: int | None, current: int | None, cleared: bool) -> None:
    assert JobRecord(clear_number=stored).cleared_since(current) is cleared


def test_clear_number_round_trips_and_bad_ones_are_ignored() -> None:
    record = JobRecord(external_id="j", clear_number=3).evolve()
    assert JobRecord.load("j", record.to_json()).clear_number == 3
    for bad in (-1, "2", 1.5, True):
        assert JobRecord.load("j", {**record.to_json(), "clear_number": bad}).clear_number \
            is None


@pytest.fixture
def store() -> TaskStore:
    return connect("memory://").task_store(TaskScope("dag", "run", "task"))


def _context(store: TaskStore, clear_number: int) -> dict[str, Any]:
    return {"task_store": store, "dag_run": SimpleNamespace(clear_number=clear_number)}


def test_a_succeeded_task_cleared_and_run_again_submits_one_new_job(store: TaskStore) -> None:
    jobs = FakeJobs(script=["SUCCESS"])
    first = FakeOperator(jobs)
    assert first.execute(_context(store, 0)) == {"job": 100}
    again = FakeOperator(jobs)
    assert again.execute(_context(store, 0)) == {"job": 100}  # a plain rerun: no new job
    assert len(jobs.submissions) == 1
    cleared = FakeOperator(jobs)
    assert cleared.execute(_context(store, 1)) == {"job": 101}
    assert cleared.finished == [(101, {"job": 101})]  # the hook ran for the new job
    tokens = [token for _, token in jobs.submissions]
    assert len(tokens) == 2 and tokens[0] != tokens[1]  # a new generation, a new token
    assert FakeOperator(jobs).execute(_context(store, 1)) == {"job": 101}
    assert len(jobs.submissions) == 2  # cleared once, one new job
    record = store.get(meta_key("fake_job_id"))
    assert isinstance(record, dict) and record["clear_number"] == 1


def test_a_job_still_running_at_the_clear_is_reattached(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "RUNNING", "SUCCESS"])
    op = FakeOperator(jobs)
    op.get_resume_decision(_context(store, 0))  # the try that submitted, then was cleared
    op.persist_job_id(_context(store, 0), op.submit_job(_context(store, 0)))
    assert FakeOperator(jobs).execute(_context(store, 1)) == {"job": 100}
    assert len(jobs.submissions) == 1


def test_a_failed_task_cleared_resubmits_once(store: TaskStore) -> None:
    jobs = FakeJobs(script=["FAILED"])
    with pytest.raises(Exception, match="failed"):
        FakeOperator(jobs).execute(_context(store, 0))
    jobs.script = ["SUCCESS"]
    assert FakeOperator(jobs).execute(_context(store, 1)) == {"job": 101}
    assert len(jobs.submissions) == 2


def test_opting_out_reuses_the_succeeded_job(store: TaskStore) -> None:
    jobs = FakeJobs(script=["SUCCESS"])
    FakeOperator(jobs).execute(_context(store, 0))
    reuse = FakeOperator(jobs)
    reuse.resubmit_on_clear = False
    assert reuse.execute(_context(store, 1)) == {"job": 100}
    assert reuse.finished == []  # the hook ran once, in the first run
    assert len(jobs.submissions) == 1


def test_the_non_blocking_api_sees_clears_too(store: TaskStore) -> None:
    jobs = FakeJobs(script=["SUCCESS"])
    FakeOperator(jobs).execute(_context(store, 0))
    op = FakeOperator(jobs)
    assert op.get_resume_decision(_context(store, 0)).action is ResumeAction.ALREADY_SUCCEEDED
    assert op.get_resume_decision(_context(store, 1)) == (ResumeAction.SUBMIT, None)


def test_outside_airflow_nothing_counts_as_a_clear(store: TaskStore) -> None:
    jobs = FakeJobs(script=["SUCCESS"])
    FakeOperator(jobs).execute({"task_store": store})
    FakeOperator(jobs).execute({"task_store": store, "dag_run": object()})
    assert len(jobs.submissions) == 1

"""Identity on reattach: a reused ID is a new job; a job not visible yet has not vanished."""

from __future__ import annotations

from typing import Any

import pytest

from resumable import ResumeAction
from resumable._job_decision import Action, StatusKind, decide
from resumable._job_record import JobRecord, meta_key, now_iso
from store_client import TaskScope, TaskStore, connect
from tests.resumable.fake_jobs import FakeJobs, FakeOperator


@pytest.fixture
def store() -> TaskStore:
    return connect("memory://").task_store(TaskScope("dag", "run", "task"))


def _context(store: TaskStore) -> dict[str, Any]:
    return {"task_store": store}


class IdentifiedOperator(FakeOperator):
    """Reports each job's creation 'UID'; a reset system reuses IDs with new UIDs."""

    uids: dict[int, str]

    def get_job_identity(self, external_id: Any, context: Any) -> Any:
        return self.uids.get(external_id)


def test_decision_rows() -> None:
    seen = JobRecord(external_id="j", generation=1, phase="submitted", seen=True)
    fresh = JobRecord(external_id="j", generation=1, phase="submitted")
    assert decide(seen, StatusKind.REPLACED).action is Action.RESUBMIT
    assert decide(seen, StatusKind.REPLACED).warn
    assert decide(fresh, StatusKind.NOT_FOUND, lagging=True).action is Action.REQUERY
    assert decide(fresh, StatusKind.NOT_FOUND).action is Action.RESUBMIT
    intent = JobRecord(generation=1, phase="submitting")
    assert decide(intent, StatusKind.NOT_FOUND, lagging=True).action is Action.SUBMIT


def test_a_reused_id_with_another_identity_is_resubmitted(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "SUCCESS"])
    first = IdentifiedOperator(jobs)
    first.uids = {100: "uid-a"}
    first.get_resume_decision(_context(store))
    first.persist_job_id(_context(store), first.submit_job(_context(store)))
    assert first.get_resume_decision(_context(store)) == (ResumeAction.RECONNECT, 100)
    record = store.get(meta_key("fake_job_id"))
    assert isinstance(record, dict) and record["identity"] == "uid-a" and record["seen"]
    # The system was reset: ID 100 now names another job.
    retry = IdentifiedOperator(jobs)
    retry.uids = {100: "uid-b", 101: "uid-c"}
    assert retry.execute(_context(store)) == {"job": 101}
    assert len(jobs.submissions) == 2
    assert retry.finished == [(101, {"job": 101})]


def test_the_same_identity_reattaches(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "RUNNING", "SUCCESS"])
    op = IdentifiedOperator(jobs)
    op.uids = {100: "uid-a"}
    op.get_resume_decision(_context(store))
    op.persist_job_id(_context(store), op.submit_job(_context(store)))
    assert op.execute(_context(store)) == {"job": 100}
    assert len(jobs.submissions) == 1


def test_a_job_not_visible_yet_is_asked_again_not_resubmitted(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "SUCCESS"])
    op = FakeOperator(jobs)
    op.get_resume_decision(_context(store))
    op.persist_job_id(_context(store), op.submit_job(_context(store)))
    jobs.forgotten.add(100)  # the system's reads lag: it does not know the job yet
    retry = FakeOperator(jobs)
    assert retry.get_resume_decision(_context(store)) == (ResumeAction.RECONNECT, 100)

    calls = {"n": 0}
    original = jobs.status

    def lagging_status(job_id: int) -> str:
        calls["n"] += 1
        if calls["n"] == 3:
            jobs.forgotten.discard(100)  # now it shows up
        return original(job_id)

    jobs.status = lagging_status  # type: ignore[method-assign]
    assert FakeOperator(jobs).execute(_context(store)) == {"job": 100}
    assert len(jobs.submissions) == 1


def test_after_the_grace_window_or_once_seen_not_found_means_vanished(
        store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "SUCCESS"])
    op = FakeOperator(jobs)
    op.get_resume_decision(_context(store))
    op.persist_job_id(_context(store), op.submit_job(_context(store)))
    jobs.forgotten.add(100)
    late = FakeOperator(jobs)
    late.not_found_grace = 0  # the window has passed
    assert late.get_resume_decision(_context(store)).action is ResumeAction.SUBMIT

    store.clear()
    seen = JobRecord(external_id=100, generation=0, phase="submitted", seen=True,
                     submitted_at=now_iso()).evolve()
    store.set("fake_job_id", 100)
    store.set(meta_key("fake_job_id"), seen.to_json())
    assert FakeOperator(jobs).get_resume_decision(_context(store)).action \
        is ResumeAction.SUBMIT

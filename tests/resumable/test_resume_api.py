"""get_resume_decision / persist_job_id: the blocking path's decisions, without blocking."""

from __future__ import annotations

from typing import Any

import pytest

from resumable import ResumeAction, ResumeDecision
from resumable._job_record import meta_key
from store_client import NEVER_EXPIRE, StoreClient, TaskScope, TaskStore, connect
from tests.resumable.fake_jobs import FakeJobs, FakeOperator

SCOPE = TaskScope("dag", "run", "task")


@pytest.fixture
def store() -> TaskStore:
    client: StoreClient = connect("memory://")
    return client.task_store(SCOPE)


def _context(store: TaskStore) -> dict[str, Any]:
    return {"task_store": store}


def _deferrable_try(op: FakeOperator, store: TaskStore) -> ResumeDecision:
    """What a deferrable execute() does: decide, submit if told to, persist."""
    decision = op.get_resume_decision(_context(store))
    if decision.action is ResumeAction.SUBMIT:
        op.persist_job_id(_context(store), op.submit_job(_context(store)))
    return decision


def test_names_match_airflows() -> None:
    assert {a.name for a in ResumeAction} == {"RECONNECT", "ALREADY_SUCCEEDED", "SUBMIT"}
    decision = ResumeDecision(ResumeAction.RECONNECT, "j-1")
    action, external_id = decision  # a NamedTuple, as Airflow's
    assert (action, external_id) == (ResumeAction.RECONNECT, "j-1")


@pytest.mark.parametrize(("script", "expected"), [
    (["RUNNING"], ResumeAction.RECONNECT),
    (["SUCCESS"], ResumeAction.ALREADY_SUCCEEDED),
    (["FAILED"], ResumeAction.SUBMIT),
    (["WEIRD"], ResumeAction.SUBMIT),  # not active, not succeeded: failed by default
])
def test_a_stored_job_is_decided_by_its_status(store: TaskStore, script: list[str],
                                               expected: ResumeAction) -> None:
    jobs = FakeJobs(script=script)
    op = FakeOperator(jobs)
    assert _deferrable_try(op, store).action is ResumeAction.SUBMIT  # nothing stored yet
    first_id = store.get("fake_job_id")
    decision = op.get_resume_decision(_context(store))
    assert decision.action is expected
    if expected is ResumeAction.SUBMIT:  # a new generation: old ID gone, new token set
        assert decision.external_id is None and store.get("fake_job_id") is None
        assert op.idempotency_token is not None and op.idempotency_token.endswith("-g1")
    else:
        assert decision.external_id == first_id
    assert len(jobs.submissions) == 1  # deciding never submits


def test_an_unknown_status_reconnects_never_resubmits(store: TaskStore) -> None:
    jobs = FakeJobs(script=["WEIRD"])
    op = FakeOperator(jobs)
    op.failed_states = frozenset({"FAILED"})  # now WEIRD is claimed by no predicate
    _deferrable_try(op, store)
    assert op.get_resume_decision(_context(store)) == (ResumeAction.RECONNECT, 100)


def test_a_vanished_job_is_resubmitted(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING"])
    op = FakeOperator(jobs)
    _deferrable_try(op, store)
    assert op.get_resume_decision(_context(store)).action is ResumeAction.RECONNECT  # seen
    jobs.forgotten.add(100)
    assert op.get_resume_decision(_context(store)).action is ResumeAction.SUBMIT


def test_submit_writes_the_intent_first_so_a_crash_before_persist_is_adopted(
        store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING"])
    op = FakeOperator(jobs, use_find=True)
    decision = op.get_resume_decision(_context(store))
    assert decision == (ResumeAction.SUBMIT, None)
    token = op.idempotency_token
    intent = store.get(meta_key("fake_job_id"))
    assert isinstance(intent, dict) and intent["phase"] == "submitting"
    assert intent["token"] == token
    op.submit_job(_context(store))  # ... and the worker dies before persist_job_id
    retry = FakeOperator(jobs, use_find=True)
    assert retry.get_resume_decision(_context(store)) == (ResumeAction.RECONNECT, 100)
    assert len(jobs.submissions) == 1 and store.get("fake_job_id") == 100


def test_a_crash_before_persist_without_find_job_resubmits_with_the_same_token(
        store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING"], dedupe_tokens=True)
    op = FakeOperator(jobs)
    op.get_resume_decision(_context(store))
    op.submit_job(_context(store))  # dies before persist
    retry = FakeOperator(jobs)
    assert _deferrable_try(retry, store).action is ResumeAction.SUBMIT
    assert retry.idempotency_token == op.idempotency_token
    assert len(jobs.submissions) == 1  # the system deduped the second submission
    assert store.get("fake_job_id") == 100


def test_persist_job_id_stores_never_expire_and_normalises(store: TaskStore) -> None:
    op = FakeOperator(FakeJobs())
    op.get_resume_decision(_context(store))
    assert op.persist_job_id(_context(store), ("cluster", 7)) == ["cluster", 7]
    assert store.get("fake_job_id") == ["cluster", 7]
    record = store.get(meta_key("fake_job_id"))
    assert isinstance(record, dict) and record["phase"] == "submitted"


def test_persist_without_a_decision_records_a_new_generation(store: TaskStore) -> None:
    op = FakeOperator(FakeJobs())
    op.persist_job_id(_context(store), "a")
    op.persist_job_id(_context(store), "b")
    record = store.get(meta_key("fake_job_id"))
    assert isinstance(record, dict) and record["generation"] == 1
    assert store.get("fake_job_id") == "b"


def test_ids_are_kept_forever(monkeypatch: pytest.MonkeyPatch, store: TaskStore) -> None:
    retentions: list[Any] = []
    original = store.set

    def recording_set(key: str, value: Any, *, retention: Any = None) -> None:
        retentions.append((key, retention))
        original(key, value, retention=retention)

    monkeypatch.setattr(store, "set", recording_set)
    _deferrable_try(FakeOperator(FakeJobs()), store)
    assert retentions and all(r is NEVER_EXPIRE for _, r in retentions)


def test_not_durable_always_submits_with_a_fresh_token(store: TaskStore) -> None:
    op = FakeOperator(FakeJobs(), durable=False)
    first = op.get_resume_decision(_context(store))
    token = op.idempotency_token
    assert first == (ResumeAction.SUBMIT, None)
    assert op.get_resume_decision(_context(store)).action is ResumeAction.SUBMIT
    assert op.idempotency_token != token
    assert store.items() == {}

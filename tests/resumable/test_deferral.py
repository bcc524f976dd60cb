"""``deferrable=True`` without a triggerer: execute decides and defers, execute_complete
checks each event against the stored record.

``defer`` is a fake that raises :class:`Deferred` (as Airflow's raises ``TaskDeferred``);
the trigger's event is either written by hand (stale, failed, unknown...) or produced by
running the real trigger's ``run()`` inline against the in-process :class:`FakeJobs`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import timedelta
from typing import Any

import pytest

from resumable import (
    JobConfigurationError,
    JobFailedError,
    JobHookError,
    JobStatusUnknownError,
    JobTimeoutError,
    ResumableJobMixin,
    TooManyResubmitsError,
)
from resumable._job_record import meta_key
from store_client import TaskScope, TaskStore, connect
from tests.resumable.fake_jobs import FakeJobs, FakeOperator
from tests.support import require_or_skip

SCOPE = TaskScope("dag", "run", "task")
KEY = FakeOperator.external_id_key
#: The job systems the deferring operators look their jobs up in, by name (a status-only
#: instance built by the trigger has only JSON state, so it finds its FakeJobs here).
SYSTEMS: dict[str, FakeJobs] = {}


class Deferred(BaseException):  # stands for Airflow's TaskDeferred
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("deferred")
        self.__dict__.update(kwargs)
        self.trigger: Any = kwargs["trigger"]
        self.kwargs: dict[str, Any] | None = kwargs["kwargs"]


class DeferringOperator(FakeOperator):
    """FakeOperator with Airflow's ``defer`` (faked) and a system named in its state."""

    deferrable = True

    def __init__(self, system: str, **kwargs: Any) -> None:
        super().__init__(SYSTEMS[system], **kwargs)
        self.system = system

    @property
    def jobs(self) -> FakeJobs:
        return SYSTEMS[self.system]

    @jobs.setter
    def jobs(self, value: FakeJobs) -> None:
        pass  # FakeOperator.__init__ sets it; SYSTEMS is the truth

    def defer(self, **kwargs: Any) -> None:
        raise Deferred(**kwargs)

    def trigger_state(self) -> dict[str, Any]:
        return {**super().trigger_state(), "system": self.system}


@pytest.fixture
def store() -> TaskStore:
    return connect("memory://").task_store(SCOPE)


@pytest.fixture
def jobs(request: pytest.FixtureRequest) -> FakeJobs:
    SYSTEMS[request.node.name] = jobs = FakeJobs()
    return jobs


def _op(request: pytest.FixtureRequest, **kwargs: Any) -> DeferringOperator:
    return DeferringOperator(request.node.name, **kwargs)


def _ctx(store: TaskStore) -> dict[str, Any]:
    return {"task_store": store}


def _defer(op: ResumableJobMixin, store: TaskStore) -> Deferred:
    with pytest.raises(Deferred) as info:
        op.execute(_ctx(store))
    return info.value


def _event(external_id: Any, generation: int | None, outcome: str, status: Any = None,
           message: str = "") -> dict[str, Any]:
    return {"external_id": external_id, "generation": generation, "status": status,
            "outcome": outcome, "message": message}


def _trigger_event(deferred: Deferred) -> dict[str, Any]:
    """Run the deferred trigger inline, after a serialize round trip, for its one event."""
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    try:
        from resumable._trigger import ResumableJobTrigger
    except ImportError:
        require_or_skip("apache-airflow is not installed: pip install 'resumable[airflow]'")

    _, kwargs = deferred.trigger.serialize()
    trigger = ResumableJobTrigger(**kwargs)

    async def first() -> Any:
        return await anext(trigger.run())

    payload: dict[str, Any] = asyncio.run(first()).payload
    return payload


def test_fresh_submit_then_defer_then_complete(request: pytest.FixtureRequest,
                                               jobs: FakeJobs, store: TaskStore) -> None:
    op = _op(request)
    started = time.time()
    deferred = _defer(op, store)
    assert jobs.submissions == [(100, op.idempotency_token)]
    assert store.get(KEY) == 100  # persisted before deferring
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=op.poll_timeout)
    assert deferred.kwargs is None
    _, kwargs = deferred.trigger.serialize()
    assert kwargs["operator"] == f"{__name__}:DeferringOperator"
    assert (kwargs["external_id"], kwargs["generation"]) == (100, 0)
    assert started + 5.0 <= kwargs["deadline"] <= time.time() + 5.0
    assert kwargs["state"]["system"] == request.node.name
    assert kwargs["state"]["poll_interval"] == op.poll_interval

    event = _trigger_event(deferred)
    assert event == _event(100, 0, "succeeded", "SUCCESS", "job 100 succeeded")
    done = _op(request)  # a new process resumes the task: a new operator object
    assert done.execute_complete(_ctx(store), event) == {"job": 100}
    assert done.finished == [(100, {"job": 100})]
    assert store.get(meta_key(KEY))["phase"] == "finished"
    assert len(jobs.submissions) == 1


def test_the_same_event_twice_runs_the_hook_once(request: pytest.FixtureRequest,
                                                 jobs: FakeJobs, store: TaskStore) -> None:
    _defer(_op(request), store)
    first, second = _op(request), _op(request)
    event = _event(100, 0, "succeeded", "SUCCESS")
    assert first.execute_complete(_ctx(store), event) == {"job": 100}
    assert second.execute_complete(_ctx(store), event) == {"job": 100}
    assert (len(first.finished), second.finished) == (1, [])


def test_a_retry_reconnects_without_submitting(request: pytest.FixtureRequest,
                                               jobs: FakeJobs, store: TaskStore) -> None:
    jobs.script = ["RUNNING"]
    _defer(_op(request), store)
    retry = _defer(_op(request), store)  # the task was retried while the job runs
    assert len(jobs.submissions) == 1
    assert retry.trigger.serialize()[1]["external_id"] == 100


def test_a_job_already_succeeded_finishes_without_deferring(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore) -> None:
    jobs.script = ["SUCCESS"]
    _defer(_op(request), store)
    op = _op(request)
    assert op.execute(_ctx(store)) == {"job": 100}  # no Deferred: finished at once
    assert op.finished == [(100, {"job": 100})]
    again = _op(request)
    assert again.execute(_ctx(store)) == {"job": 100}
    assert again.finished == []  # the record says finished: the hook ran once
    assert len(jobs.submissions) == 1


@pytest.mark.parametrize("outcome", ["succeeded", "failed", "not_found", "timeout"])
@pytest.mark.parametrize("stale", ["other_id", "other_generation", "nothing_stored"])
def test_a_stale_event_goes_back_through_the_decision(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore, stale: str,
        outcome: str) -> None:
    jobs.script = ["RUNNING"]
    _defer(_op(request), store)
    if stale == "nothing_stored":
        store.clear()
    event = _event(555 if stale == "other_id" else 100, 3 if stale == "other_generation" else 0,
                   outcome, "SUCCESS" if outcome == "succeeded" else "FAILED")
    op = _op(request)
    with pytest.raises(Deferred) as info:
        op.execute_complete(_ctx(store), event)
    assert op.finished == []  # a stale "succeeded" never finishes anything
    expected_id = 101 if stale == "nothing_stored" else 100
    assert info.value.trigger.serialize()[1]["external_id"] == expected_id
    assert len(jobs.submissions) == (2 if stale == "nothing_stored" else 1)
    assert store.get(meta_key(KEY))["phase"] == "submitted"  # never marked failed


@pytest.mark.parametrize("event", [None, "done", {"outcome": "succeeded"},
                                   _event(100, "0", "succeeded"), _event(100, 0, "weird")])
def test_a_malformed_event_is_not_trusted(request: pytest.FixtureRequest, jobs: FakeJobs,
                                          store: TaskStore, event: Any) -> None:
    jobs.script = ["RUNNING"]
    _defer(_op(request), store)
    op = _op(request)
    with pytest.raises(Deferred):
        op.execute_complete(_ctx(store), event)
    assert op.finished == [] and len(jobs.submissions) == 1


def test_a_failed_event_records_failed_and_the_retry_resubmits(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore) -> None:
    jobs.script = ["RUNNING", "FAILED"]
    deferred = _defer(_op(request), store)
    event = _trigger_event(deferred)
    assert (event["outcome"], event["status"]) == ("failed", "FAILED")
    with pytest.raises(JobFailedError) as info:
        _op(request).execute_complete(_ctx(store), event)
    assert (info.value.external_id, info.value.status) == (100, "FAILED")
    record = store.get(meta_key(KEY))
    assert (record["phase"], record["status"]) == ("failed", "FAILED")
    retry = _op(request)
    deferred = _defer(retry, store)  # Airflow retries: a new generation, a new token
    assert deferred.trigger.serialize()[1]["generation"] == 1
    assert retry.idempotency_token is not None and retry.idempotency_token.endswith("-g1")
    assert [job for job, _ in jobs.submissions] == [100, 101]


@pytest.mark.parametrize(("outcome", "error"), [
    ("unknown", JobStatusUnknownError), ("timeout", JobTimeoutError), ("error", JobHookError)])
def test_unknown_timeout_and_error_raise_what_the_blocking_path_raises(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore, outcome: str,
        error: type[Exception]) -> None:
    jobs.script = ["RUNNING"]
    _defer(_op(request), store)
    with pytest.raises(error, match="from the trigger") as info:
        _op(request).execute_complete(_ctx(store), _event(100, 0, outcome, "X",
                                                          "from the trigger"))
    assert getattr(info.value, "external_id", None) == 100
    assert store.get(meta_key(KEY))["phase"] == "submitted"  # it may still run
    assert len(jobs.submissions) == 1


def test_a_vanished_job_is_resubmitted_a_bounded_number_of_times(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore) -> None:
    jobs.script = ["RUNNING"]
    _defer(_op(request, ), store)
    resubmits = 0
    for job_id in range(100, 100 + FakeOperator.max_resubmits):
        jobs.forgotten.add(job_id)
        with pytest.raises(Deferred) as info:
            _op(request).execute_complete(_ctx(store), _event(job_id, job_id - 100,
                                                              "not_found"),
                                          resubmits=resubmits)
        resubmits = (info.value.kwargs or {})["resubmits"]
        assert info.value.trigger.serialize()[1]["external_id"] == job_id + 1
    jobs.forgotten.add(103)
    with pytest.raises(TooManyResubmitsError):
        _op(request).execute_complete(_ctx(store), _event(103, 3, "not_found"),
                                      resubmits=resubmits)
    assert len(jobs.submissions) == 1 + FakeOperator.max_resubmits


def test_a_crash_between_submit_and_defer_is_reconnected(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore) -> None:
    class Crash(BaseException):
        pass

    jobs.script = ["RUNNING"]
    op = _op(request, on_submit=lambda: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):  # submitted; the ID was never stored
        op.execute(_ctx(store))
    op = _op(request, use_find=True)
    deferred = _defer(op, store)  # find_job adopts the job under the intent's token
    assert deferred.trigger.serialize()[1]["external_id"] == 100
    assert len(jobs.submissions) == 1


def test_durable_false_trusts_the_event(request: pytest.FixtureRequest, jobs: FakeJobs,
                                        store: TaskStore) -> None:
    op = _op(request, durable=False)
    deferred = _defer(op, store)
    assert deferred.trigger.serialize()[1]["generation"] is None
    assert store.items() == {}
    done = _op(request, durable=False)
    assert done.execute_complete({}, _trigger_event(deferred)) == {"job": 100}
    assert done.finished == [(100, {"job": 100})]


def test_the_keyword_the_class_attribute_and_the_blocking_default(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore) -> None:
    assert ResumableJobMixin.deferrable is False
    blocking = _op(request, deferrable=False)
    assert blocking.execute(_ctx(store)) == {"job": 100}  # no Deferred: polled in place
    with pytest.raises(JobConfigurationError, match="deferrable"):
        _op(request, deferrable="yes")

    class Plain(FakeOperator):  # no defer(): not an Airflow operator
        pass

    with pytest.raises(JobConfigurationError, match="defer"):
        Plain(jobs, deferrable=True).execute(_ctx(store))
    assert len(jobs.submissions) == 1


def test_configuration_problems_are_found_before_anything_is_submitted(
        request: pytest.FixtureRequest, jobs: FakeJobs, store: TaskStore) -> None:
    class Local(DeferringOperator):  # defined in a function: the triggerer cannot import it
        pass

    with pytest.raises(JobConfigurationError, match=r"importable|imported"):
        Local(request.node.name).execute(_ctx(store))

    class NotJson(DeferringOperator):
        def trigger_state(self) -> dict[str, Any]:
            return {"when": object()}

    NotJson.__qualname__ = NotJson.__name__  # pretend it is importable: the state fails
    globals()["NotJson"] = NotJson
    try:
        with pytest.raises(JobConfigurationError, match="JSON"):
            NotJson(request.node.name).execute(_ctx(store))
    finally:
        del globals()["NotJson"]
    assert jobs.submissions == [] and store.items() == {}

"""ResumableJobMixin's paths in one process: submit, reattach, adopt, resubmit, unknown."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from resumable import (
    JobConfigurationTypeError,
    JobFailedError,
    JobHookError,
    JobStatusUnknownError,
    JobTimeoutError,
    NoTaskStoreError,
    ResumableJobMixin,
    TooManyResubmitsError,
    idempotency_token_for,
)
from resumable._job_record import meta_key
from store_client import NEVER_EXPIRE, TaskScope, TaskStore, connect
from tests.resumable.fake_jobs import (
    KEY,
    SCOPE,
    AccessorLike,
    FakeJobs,
    FakeOperator,
    StrictOperator,
    ctx,
)


def test_fresh_submit_returns_result_and_stores_id_forever(store: TaskStore) -> None:
    jobs = FakeJobs()
    op = FakeOperator(jobs)
    assert op.execute(ctx(store)) == {"job": 100}
    assert store.get(KEY) == 100
    meta = store.get(meta_key(KEY))
    assert meta["phase"] == "finished" and meta["generation"] == 0  # type: ignore[index,call-overload]
    assert meta["token"] == idempotency_token_for(SCOPE, KEY, 0)  # type: ignore[index,call-overload]
    assert op.finished == [(100, {"job": 100})]
    accessor = AccessorLike()
    FakeOperator(FakeJobs()).execute({"task_state_store": accessor})
    assert accessor.retentions[KEY] is NEVER_EXPIRE
    assert accessor.retentions[meta_key(KEY)] is NEVER_EXPIRE


def test_reconnect_returns_the_result_not_none(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "RUNNING", "SUCCESS"])
    job_id = jobs.submit("t")
    store.set(KEY, job_id, retention=NEVER_EXPIRE)  # what a killed worker left behind
    op = FakeOperator(jobs)
    assert op.execute(ctx(store)) == {"job": job_id}
    assert len(jobs.submissions) == 1
    assert op.finished == [(job_id, {"job": job_id})]


def test_already_succeeded_runs_the_hook_once(store: TaskStore) -> None:
    jobs = FakeJobs(script=["SUCCESS"])
    first = FakeOperator(jobs)
    assert first.execute(ctx(store)) == {"job": 100}
    second = FakeOperator(jobs)
    assert second.execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1
    assert first.finished == [(100, {"job": 100})] and second.finished == []


def test_hook_runs_on_already_succeeded_path_if_it_never_ran(store: TaskStore) -> None:
    jobs = FakeJobs(script=["SUCCESS"])
    store.set(KEY, jobs.submit("t"), retention=NEVER_EXPIRE)
    op = FakeOperator(jobs)
    op.execute(ctx(store))
    assert op.finished == [(100, {"job": 100})]


@pytest.mark.parametrize("falsy_id", [0, ""])
def test_falsy_ids_are_ids(store: TaskStore, falsy_id: Any) -> None:
    jobs = FakeJobs()
    store.set(KEY, falsy_id, retention=NEVER_EXPIRE)
    jobs.scripts[falsy_id] = ["RUNNING", "SUCCESS"]
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": falsy_id}
    assert jobs.submissions == []


def test_airflow_bare_id_is_reattached(store: TaskStore) -> None:
    jobs = FakeJobs()
    job_id = jobs.submit(None)
    store.set(KEY, job_id)  # Airflow's mixin: bare ID, default retention, no record
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": job_id}
    assert len(jobs.submissions) == 1


def _crash_between_submit_and_persist(store: TaskStore, jobs: FakeJobs, **kw: Any) -> None:
    def die() -> None:
        raise SystemExit("worker killed after submit, before the ID was stored")

    with pytest.raises(SystemExit):
        FakeOperator(jobs, on_submit=die, **kw).execute(ctx(store))
    assert store.get(KEY) is None
    assert store.get(meta_key(KEY))["phase"] == "submitting"  # type: ignore[index,call-overload]


def test_intent_without_id_adopts_what_find_job_finds(store: TaskStore) -> None:
    jobs = FakeJobs()
    _crash_between_submit_and_persist(store, jobs, use_find=True)
    assert FakeOperator(jobs, use_find=True).execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1
    assert store.get(KEY) == 100


def test_intent_without_find_job_resubmits_with_the_same_token(store: TaskStore) -> None:
    jobs = FakeJobs(dedupe_tokens=True)  # like Databricks' idempotency_token
    _crash_between_submit_and_persist(store, jobs)
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1


def test_a_try_that_dies_while_polling_leaves_the_job_submitted(store: TaskStore) -> None:
    class Crash(RuntimeError):  # e.g. a lookup that keeps failing, or a simulated crash
        pass

    class Dying(FakeOperator):
        def get_job_status(self, external_id: Any, context: Any) -> Any:
            raise Crash

    jobs = FakeJobs(script=["RUNNING", "SUCCESS"])
    with pytest.raises(JobHookError, match="get_job_status raised Crash") as info:
        Dying(jobs).execute(ctx(store))
    assert isinstance(info.value.__cause__, Crash)  # a bug in the hook: not retried
    assert store.get(meta_key(KEY))["phase"] == "submitted"  # type: ignore[index,call-overload]
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1


def test_failure_raises_then_retry_uses_a_new_generation(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "FAILED"])
    with pytest.raises(JobFailedError) as info:
        FakeOperator(jobs).execute(ctx(store))
    assert info.value.external_id == 100 and info.value.status == "FAILED"
    assert store.get(meta_key(KEY))["phase"] == "failed"  # type: ignore[index,call-overload]
    jobs.script = ["SUCCESS"]
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": 101}
    (_, token0), (_, token1) = jobs.submissions
    assert token0 == idempotency_token_for(SCOPE, KEY, 0)
    assert token1 == idempotency_token_for(SCOPE, KEY, 1) != token0
    assert store.get(meta_key(KEY))["generation"] == 1  # type: ignore[index,call-overload]


def test_job_unknown_to_the_system_is_resubmitted_with_a_warning(
        store: TaskStore, caplog: pytest.LogCaptureFixture) -> None:
    jobs = FakeJobs()
    store.set(KEY, 999, retention=NEVER_EXPIRE)
    with caplog.at_level(logging.WARNING, logger="resumable"):
        assert FakeOperator(jobs).execute(ctx(store)) == {"job": 100}
    assert any("no longer knows" in r.getMessage() for r in caplog.records)
    assert jobs.submissions == [(100, idempotency_token_for(SCOPE, KEY, 1))]


def test_unclaimed_status_counts_as_failed_by_default(store: TaskStore) -> None:
    jobs = FakeJobs(script=["WEIRD"])
    with pytest.raises(JobFailedError):
        FakeOperator(jobs).execute(ctx(store))


def test_unclaimed_status_is_unknown_when_is_job_failed_is_overridden(
        store: TaskStore) -> None:
    jobs = FakeJobs(script=["WEIRD", "WEIRD", "RUNNING", "SUCCESS"])
    store.set(KEY, jobs.submit("t"), retention=NEVER_EXPIRE)
    assert StrictOperator(jobs).execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1
    jobs2 = FakeJobs(script=["WEIRD"])
    store.set(KEY, jobs2.submit("t"), retention=NEVER_EXPIRE)
    with pytest.raises(JobStatusUnknownError):
        StrictOperator(jobs2, poll_timeout=0.2).execute(ctx(store))
    assert len(jobs2.submissions) == 1  # never a blind resubmit


def test_transient_lookup_errors_are_retried(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING", "RUNNING", "SUCCESS"], lookup_errors=3)
    store.set(KEY, jobs.submit("t"), retention=NEVER_EXPIRE)
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": 100}
    jobs.lookup_errors = 2
    jobs.scripts[100] = ["RUNNING", "SUCCESS"]
    op = FakeOperator(jobs)
    assert op.poll_until_complete(100, ctx(store)) == "SUCCESS"


def test_poll_timeout_leaves_the_job_running(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING"])
    with pytest.raises(JobTimeoutError):
        FakeOperator(jobs, poll_timeout=0.1).execute(ctx(store))
    assert jobs.cancelled == []
    assert store.get(KEY) == 100


def test_job_vanishing_every_time_stops(store: TaskStore) -> None:
    class Vanishing(FakeJobs):
        def status(self, job_id: int) -> str:
            raise __import__("resumable").JobNotFoundError("gone")

    op = FakeOperator(Vanishing())
    op.not_found_grace = 0.2  # each new job is asked about for 0.2 s, then resubmitted
    with pytest.raises(TooManyResubmitsError):
        op.execute(ctx(store))


def test_not_durable_writes_nothing(store: TaskStore) -> None:
    jobs = FakeJobs()
    assert FakeOperator(jobs, durable=False).execute(ctx(store)) == {"job": 100}
    assert FakeOperator(jobs, durable=False).execute(ctx(store)) == {"job": 101}
    assert store.items() == {}


def test_tokens_are_deterministic_and_short() -> None:
    token = idempotency_token_for(SCOPE, KEY, 0)
    assert token == idempotency_token_for(TaskScope("dag", "run", "task"), KEY, 0)
    assert len(token) <= 64 and token.startswith("rsm-") and token.endswith("-g0")
    others = {idempotency_token_for(TaskScope("dag", "run", "task", 1), KEY, 0),
              idempotency_token_for(SCOPE, KEY, 1), idempotency_token_for(SCOPE, "k2", 0),
              idempotency_token_for(TaskScope("dag", "run2", "task"), KEY, 0)}
    assert token not in others and len(others) == 4


def test_token_is_set_before_submit(store: TaskStore) -> None:
    seen: list[str | None] = []
    jobs = FakeJobs()
    op = FakeOperator(jobs, on_submit=lambda: seen.append(op.idempotency_token))
    op.execute(ctx(store))
    assert seen == [idempotency_token_for(SCOPE, KEY, 0)]


def test_no_store_runs_without_crash_recovery_with_airflows_warning(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESUMABLE_STORE_URL", raising=False)

    class TI:
        dag_id, run_id, task_id, map_index = "dag", "run", "task", -1

    for context in ({}, {"ti": TI()}):  # never the embedded per-machine file in Airflow
        jobs = FakeJobs()
        with caplog.at_level("WARNING", "resumable.jobs"):
            assert FakeOperator(jobs).execute(context) == {"job": 100}
        assert "crash recovery is disabled for this run" in caplog.text
        assert len(jobs.submissions) == 1
        caplog.clear()
    with pytest.raises(NoTaskStoreError, match="no get/set"):
        FakeOperator(FakeJobs()).execute({"task_store": object()})


def test_task_instance_context_uses_the_default_store(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import store_client._airflow_context as context_module

    monkeypatch.setenv("RESUMABLE_STORE_URL", f"sqlite:///{tmp_path / 'default.db'}")
    monkeypatch.setattr(context_module, "_client", None)

    class TI:
        dag_id, run_id, task_id, map_index = "dag", "run", "task", 3

    jobs = FakeJobs()
    assert FakeOperator(jobs).execute({"ti": TI()}) == {"job": 100}
    stored = connect().task_store(TaskScope("dag", "run", "task", 3))
    assert stored.get(KEY) == 100
    assert jobs.submissions[0][1] == idempotency_token_for(
        TaskScope("dag", "run", "task", 3), KEY, 0)


def test_on_kill_cancels_only_when_asked(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING"])
    for cancel in (False, True):
        op = FakeOperator(jobs, cancel_on_kill=cancel, poll_timeout=0.05)
        with pytest.raises(JobTimeoutError):
            op.execute(ctx(store))
        op.on_kill()
    assert jobs.cancelled == [100]


def _http_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://jobs.example/status")
    return httpx.HTTPStatusError(f"HTTP {status}", request=request,
                                 response=httpx.Response(status, request=request))


@pytest.mark.parametrize(("status", "transient"), [
    (401, False), (403, False), (404, False), (408, True), (429, True), (500, True),
    (503, True)])
def test_http_4xx_lookup_errors_are_permanent(store: TaskStore, status: int,
                                              transient: bool) -> None:
    calls: list[int] = []

    class Flaky(FakeJobs):
        def status(self, job_id: int) -> str:
            calls.append(job_id)
            if len(calls) <= 2:
                raise _http_error(status)
            return "SUCCESS"

    jobs = Flaky()
    store.set(KEY, jobs.submit("t"), retention=NEVER_EXPIRE)
    if transient:
        assert FakeOperator(jobs).execute(ctx(store)) == {"job": 100}
    else:
        with pytest.raises(JobHookError, match="get_job_status raised HTTPStatusError") as info:
            FakeOperator(jobs).execute(ctx(store))
        assert isinstance(info.value.__cause__, httpx.HTTPStatusError)
        assert len(calls) == 1


def test_lookup_errors_in_a_row_are_bounded(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING"], lookup_errors=1000)
    store.set(KEY, jobs.submit("t"), retention=NEVER_EXPIRE)
    with pytest.raises(ConnectionError):
        FakeOperator(jobs, poll_timeout=None).execute(ctx(store))
    assert jobs.lookup_errors == 1000 - 5  # the resume query gives up after 5
    op = FakeOperator(jobs, poll_timeout=None)
    op.max_lookup_errors = 4
    with pytest.raises(ConnectionError):
        op.poll_until_complete(100, ctx(store))
    assert jobs.lookup_errors == 1000 - 5 - 4


class StateSetOperator(FakeOperator):
    """The predicates from state sets instead of methods."""

    active_states = frozenset({"PENDING", "RUNNING"})
    succeeded_states = frozenset({"SUCCESS"})
    failed_states = frozenset({"FAILED"})
    is_job_active = ResumableJobMixin.is_job_active  # back to the mixin's defaults
    is_job_succeeded = ResumableJobMixin.is_job_succeeded
    is_job_failed = ResumableJobMixin.is_job_failed


def test_state_sets_replace_the_predicates(store: TaskStore) -> None:
    op = StateSetOperator(FakeJobs())
    assert (op.is_job_active("RUNNING"), op.is_job_succeeded("SUCCESS"),
            op.is_job_failed("FAILED"), op.is_job_failed("WEIRD")) == (True, True, True, False)
    jobs = FakeJobs(script=["WEIRD", "RUNNING", "SUCCESS"])
    store.set(KEY, jobs.submit("t"), retention=NEVER_EXPIRE)
    assert StateSetOperator(jobs).execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1  # WEIRD was unknown, not failed


def test_missing_hooks_are_named_when_the_class_is_instantiated() -> None:
    class Bare(ResumableJobMixin):
        pass

    with pytest.raises(TypeError, match=r"Bare cannot be instantiated: implement "
                       r"get_job_status, is_job_active \(or set active_states\), "
                       r"is_job_succeeded \(or set succeeded_states\), submit_job"):
        Bare()
    with pytest.raises(TypeError, match="ResumableJobMixin cannot be instantiated"):
        ResumableJobMixin()

    class HalfStates(ResumableJobMixin):
        active_states = ("RUNNING",)

        def submit_job(self, context: Any) -> Any:
            return 1

        def get_job_status(self, external_id: Any, context: Any) -> Any:
            return "RUNNING"

    with pytest.raises(TypeError, match=r"implement is_job_succeeded \(or set"):
        HalfStates()

    class Complete(HalfStates):
        succeeded_states = ("DONE",)

    assert Complete().is_job_succeeded("DONE") and Complete().is_job_active("RUNNING")


def test_an_explicit_store_holds_the_tasks_state_under_its_scope(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESUMABLE_STORE_URL", raising=False)
    client = connect(f"sqlite:///{tmp_path / 'explicit.db'}")

    class TI:
        dag_id, run_id, task_id, map_index = "dag", "run", "task", 2

    jobs = FakeJobs()
    assert FakeOperator(jobs, store=client).execute({"ti": TI()}) == {"job": 100}
    scope = TaskScope("dag", "run", "task", 2)
    assert client.task_store(scope).get(KEY) == 100
    assert FakeOperator(jobs, store=client).execute({"ti": TI()}) == {"job": 100}
    assert len(jobs.submissions) == 1  # the retry found the job on the explicit store
    with pytest.raises(NoTaskStoreError, match="store= needs the task's scope"):
        FakeOperator(jobs, store=client).execute({})
    with pytest.raises(JobConfigurationTypeError, match="store must be None or a StoreClient"):
        FakeOperator(jobs, store="sqlite:///x.db")

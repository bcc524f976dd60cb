"""The poll loop on its own: the pure step table, the capped backoff (thousands of troubles
never overflow), unknown statuses that end in bounded time with or without a timeout,
and waits that never run past the deadline."""

from __future__ import annotations

from typing import Any

import pytest

from resumable import (
    JobFailedError,
    JobHookError,
    JobNotFoundError,
    JobStatusUnknownError,
    JobTimeoutError,
)
from resumable._job_decision import StatusKind
from resumable._polling import (
    PollStep,
    backoff_ceiling,
    lookup_status,
    next_poll_step,
    poll_until_done,
    query_status,
)

A, S, F, U, N = (StatusKind.ACTIVE, StatusKind.SUCCEEDED, StatusKind.FAILED,
                 StatusKind.UNKNOWN, StatusKind.NOT_FOUND)
KINDS = {"RUNNING": A, "SUCCESS": S, "FAILED": F}


def classify(status: Any) -> StatusKind:
    return KINDS.get(status, U)


class Clock:
    """A fake monotonic clock: sleeping advances it, and so does each lookup."""

    def __init__(self, per_lookup: float = 0.0) -> None:
        self.now = 0.0
        self.per_lookup = per_lookup
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


class Answers:
    """``lookup()``: raises the errors, then returns the statuses (the last one forever)."""

    def __init__(self, *statuses: Any, errors: int = 0, clock: Clock | None = None,
                 error: BaseException | None = None) -> None:
        self.statuses, self.errors, self.clock, self.calls = list(statuses), errors, clock, 0
        self.error = error or ConnectionError("unreachable")

    def __call__(self) -> Any:
        self.calls += 1
        if self.clock is not None:
            self.clock.now += self.clock.per_lookup
        if self.errors:
            self.errors -= 1
            raise self.error
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@pytest.mark.parametrize(("kind", "unknown", "timed_out", "step"), [
    (S, 0, None, PollStep.DONE), (S, 0, True, PollStep.DONE),
    (F, 0, None, PollStep.FAIL), (F, 0, True, PollStep.FAIL),
    (N, 0, None, PollStep.NOT_FOUND),
    (A, 0, None, PollStep.WAIT), (A, 0, False, PollStep.WAIT), (A, 0, True, PollStep.TIMED_OUT),
    (U, 1, None, PollStep.BACK_OFF), (U, 9, None, PollStep.BACK_OFF),
    (U, 10, None, PollStep.GIVE_UP_UNKNOWN), (U, 11, None, PollStep.GIVE_UP_UNKNOWN),
    (U, 10_000, False, PollStep.BACK_OFF),  # with a timeout, the timeout decides
    (U, 1, True, PollStep.GIVE_UP_UNKNOWN),
])
def test_next_poll_step(kind: StatusKind, unknown: int, timed_out: bool | None,
                        step: PollStep) -> None:
    assert next_poll_step(kind, unknown_in_a_row=unknown, max_unknown=10,
                          timed_out=timed_out) is step


@pytest.mark.parametrize(("interval", "max_interval", "troubles", "ceiling"), [
    (1.0, 60.0, 0, 1.0), (1.0, 60.0, 1, 1.0), (1.0, 60.0, 2, 2.0), (1.0, 60.0, 6, 32.0),
    (1.0, 60.0, 7, 60.0), (1.0, 60.0, 1025, 60.0), (1.0, 60.0, 10**9, 60.0),
    (0.001, 0.01, 5000, 0.01), (0.0, 0.0, 10**6, 0.0), (0.0, 5.0, 10**6, 0.0),
    (5.0, 1.0, 3, 5.0),  # a cap under the interval: the interval
    (86400.0, 86400.0, 2000, 86400.0),
])
def test_backoff_ceiling_is_capped_and_never_overflows(interval: float, max_interval: float,
                                                       troubles: int, ceiling: float) -> None:
    assert backoff_ceiling(interval, max_interval, troubles) == ceiling


def test_old_formula_overflowed_where_the_new_one_does_not() -> None:
    with pytest.raises(OverflowError):
        _ = 0.001 * 2 ** (1100 - 1)  # what _PollWait computed after 1100 troubles
    assert backoff_ceiling(0.001, 60.0, 1100) == 60.0


@pytest.mark.parametrize("interval", [0.0, 1e-9])
def test_unknown_without_timeout_ends_after_max_unknown(interval: float) -> None:
    answers = Answers("WEIRD")
    with pytest.raises(JobStatusUnknownError, match="1500 answers in a row") as info:
        poll_until_done(answers, classify, external_id=7, interval=interval, timeout=None,
                        max_interval=interval * 10, max_unknown=1500)
    assert answers.calls == 1500
    assert (info.value.external_id, info.value.status) == (7, "WEIRD")


def test_unknown_with_timeout_ends_at_the_timeout_not_at_max_unknown() -> None:
    clock = Clock(per_lookup=0.0005)
    answers = Answers("WEIRD", clock=clock)
    with pytest.raises(JobStatusUnknownError, match="poll_timeout"):
        poll_until_done(answers, classify, external_id=7, interval=0.0, timeout=1.0,
                        max_interval=0.0, max_unknown=3, sleep=clock.sleep, clock=clock)
    assert 2000 <= answers.calls <= 2001  # 1 s of 0.5 ms answers: far past max_unknown
    assert 1.0 <= clock.now < 1.001


def test_an_active_answer_resets_the_unknown_count() -> None:
    answers = Answers(*(["WEIRD"] * 4 + ["RUNNING"]) * 300, "SUCCESS")
    assert poll_until_done(answers, classify, external_id=1, interval=0.0, timeout=None,
                           max_interval=0.0, max_unknown=5) == "SUCCESS"
    assert answers.calls == 1501


def test_more_than_a_thousand_troubles_with_tiny_intervals() -> None:
    clock = Clock()
    answers = Answers(*(["WEIRD"] * 1200), "SUCCESS", errors=1200, clock=clock)
    status = poll_until_done(answers, classify, external_id=1, interval=1e-6, timeout=3600,
                             max_interval=1e-3, max_errors=5000, sleep=clock.sleep, clock=clock)
    assert status == "SUCCESS"
    assert answers.calls == 2401
    assert len(clock.slept) == 2400 and max(clock.slept) <= 1e-3
    assert min(clock.slept[-100:]) >= 0.5e-3  # the backoff reached its cap and stayed there


def test_active_then_timeout_never_sleeps_past_the_deadline() -> None:
    clock = Clock()
    with pytest.raises(JobTimeoutError, match="still active"):
        poll_until_done(Answers("RUNNING"), classify, external_id=1, interval=0.3,
                        timeout=1.0, max_interval=5.0, sleep=clock.sleep, clock=clock)
    assert clock.now == pytest.approx(1.0)
    assert clock.slept == pytest.approx([0.3, 0.3, 0.3, 0.1])


def test_lookup_errors_until_the_deadline_raise_the_last_one() -> None:
    clock = Clock()
    answers = Answers("RUNNING", errors=10**6, clock=clock)
    with pytest.raises(ConnectionError):
        poll_until_done(answers, classify, external_id=1, interval=0.01, timeout=2.0,
                        max_interval=0.5, max_errors=10**6, sleep=clock.sleep, clock=clock)
    assert clock.now == pytest.approx(2.0)
    assert max(clock.slept) <= 0.5


def test_lookup_errors_in_a_row_are_bounded_and_reset_by_an_answer() -> None:
    answers = Answers("RUNNING", errors=3)
    with pytest.raises(ConnectionError):
        lookup_status(answers, interval=0.0, timeout=None, max_interval=0.0, max_errors=3)
    assert answers.calls == 3
    answers = Answers("RUNNING", "SUCCESS", errors=2)
    assert poll_until_done(answers, classify, external_id=1, interval=0.0, timeout=None,
                           max_interval=0.0, max_errors=3) == "SUCCESS"


def test_failed_and_not_found() -> None:
    with pytest.raises(JobFailedError) as info:
        poll_until_done(Answers("RUNNING", "FAILED"), classify, external_id=3, interval=0.0,
                        timeout=None, max_interval=0.0)
    assert (info.value.external_id, info.value.status) == (3, "FAILED")
    gone = Answers("x", errors=1, error=JobNotFoundError("gone"))
    with pytest.raises(JobNotFoundError, match="gone"):
        poll_until_done(gone, classify, external_id=3, interval=0.0, timeout=None,
                        max_interval=0.0)
    assert gone.calls == 1  # never retried


def test_a_permanent_lookup_error_is_named_and_not_retried() -> None:
    answers = Answers("RUNNING", errors=5, error=KeyError("state"))
    with pytest.raises(JobHookError, match=r"get_job_status raised KeyError: 'state'") as info:
        poll_until_done(answers, classify, external_id=3, interval=0.0, timeout=None,
                        max_interval=0.0)
    assert answers.calls == 1
    assert isinstance(info.value.__cause__, KeyError)
    assert (info.value.hook, info.value.external_id) == ("get_job_status", 3)


def test_classification_is_outside_the_retry() -> None:
    calls: list[Any] = []

    def broken(status: Any) -> StatusKind:
        calls.append(status)
        raise ConnectionError("a transient-looking error from a classifier")

    answers = Answers("RUNNING")
    with pytest.raises(ConnectionError):
        poll_until_done(answers, broken, external_id=1, interval=0.0, timeout=None,
                        max_interval=0.0)
    assert answers.calls == 1 and calls == ["RUNNING"]


def test_query_status() -> None:
    assert query_status(Answers("RUNNING", errors=2), classify, interval=0.0, timeout=None,
                        max_interval=0.0) == (A, "RUNNING")
    gone = Answers("x", errors=1, error=JobNotFoundError("gone"))
    assert query_status(gone, classify, interval=0.0, timeout=None,
                        max_interval=0.0) == (N, None)
    failing = Answers("x", errors=100)
    with pytest.raises(ConnectionError):
        query_status(failing, classify, interval=0.0, timeout=None, max_interval=0.0)
    assert failing.calls == 5


@pytest.mark.parametrize("limit", [None, 1200])
def test_the_mixin_ends_unknown_statuses_without_a_timeout(limit: int | None) -> None:
    from store_client import TaskScope, connect
    from tests.resumable.fake_jobs import FakeJobs, StrictOperator

    jobs = FakeJobs(script=["WEIRD"])
    op = StrictOperator(jobs, poll_interval=0)
    op.poll_timeout, op.poll_max_interval = None, 0.0  # the keyword None means "unset"
    if limit is not None:
        op.max_unknown_statuses = limit
    store = connect("memory://").task_store(TaskScope("dag", "run", "task"))
    with pytest.raises(JobStatusUnknownError, match="max_unknown_statuses"):
        op.execute({"task_store": store})
    assert jobs.status_calls == (limit or 30)
    assert len(jobs.submissions) == 1  # never a blind resubmit

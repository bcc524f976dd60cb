"""Errors in the operator's own hooks are not network errors: only transient errors of
``get_job_status`` are retried; any other error, and any error of a predicate, fails the
try at once as ``JobHookError`` naming the hook, on the polling and the resume paths."""

from __future__ import annotations

from typing import Any

import botocore.exceptions as boto
import httpx
import pytest
import requests

from resumable import JobHookError, JobNotFoundError
from resumable._job_hooks import call_predicate, classify_status, hook_error
from resumable._job_record import meta_key
from store_client import NEVER_EXPIRE, TaskStore
from tests.resumable.fake_jobs import KEY, FakeJobs, FakeOperator, ctx


def reattach(store: TaskStore, jobs: FakeJobs) -> None:
    """What an earlier try left: a stored ID, so the next execute starts with a query."""
    store.set(KEY, jobs.submit("t"), retention=NEVER_EXPIRE)


def _response(code: int) -> requests.Response:
    response = requests.Response()
    response.status_code = code
    return response


_REQUEST = httpx.Request("GET", "https://jobs.example/status")

TRANSIENT = [
    lambda: ConnectionResetError(104, "reset"), lambda: TimeoutError("slow"),
    lambda: httpx.ReadTimeout("slow", request=_REQUEST),
    lambda: httpx.HTTPStatusError("503", request=_REQUEST,
                                  response=httpx.Response(503, request=_REQUEST)),
    lambda: requests.ConnectionError("refused"),
    lambda: requests.HTTPError("429", response=_response(429)),
    lambda: boto.EndpointConnectionError(endpoint_url="https://emr"),
    lambda: boto.ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}},
                             "DescribeStep"),
]

PERMANENT = [
    lambda: KeyError("state"), lambda: ValueError("bad JSON"), lambda: TypeError("None"),
    lambda: FileNotFoundError(2, "no such file"),
    lambda: httpx.HTTPStatusError("401", request=_REQUEST,
                                  response=httpx.Response(401, request=_REQUEST)),
    lambda: requests.HTTPError("403", response=_response(403)),
    lambda: requests.exceptions.SSLError("certificate verify failed"),
    lambda: boto.ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"},
                              "ResponseMetadata": {"HTTPStatusCode": 403}}, "DescribeStep"),
]


@pytest.mark.parametrize("make_error", TRANSIENT)
@pytest.mark.parametrize("stored", [False, True], ids=["polling", "resume-query"])
def test_transient_lookup_errors_are_retried(store: TaskStore, make_error: Any,
                                             stored: bool) -> None:
    jobs = FakeJobs(script=["RUNNING", "SUCCESS"], lookup_errors=3, lookup_error=make_error)
    if stored:
        reattach(store, jobs)
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": 100}
    assert jobs.lookup_errors == 0 and jobs.status_calls >= 5
    assert len(jobs.submissions) == 1


@pytest.mark.parametrize("make_error", PERMANENT)
@pytest.mark.parametrize("stored", [False, True], ids=["polling", "resume-query"])
def test_other_lookup_errors_fail_at_once_naming_the_hook(store: TaskStore, make_error: Any,
                                                          stored: bool) -> None:
    jobs = FakeJobs(script=["RUNNING", "SUCCESS"], lookup_errors=1000, lookup_error=make_error)
    if stored:
        reattach(store, jobs)
    with pytest.raises(JobHookError) as info:
        FakeOperator(jobs).execute(ctx(store))
    original = info.value.__cause__
    assert isinstance(original, type(make_error()))
    assert str(info.value).startswith(f"get_job_status raised {type(original).__name__}")
    assert (info.value.hook, info.value.external_id) == ("get_job_status", 100)
    assert jobs.status_calls == 1  # not retried
    assert store.get(KEY) == 100  # the job is left for the next try
    if not stored:
        assert store.get(meta_key(KEY))["phase"] == "submitted"  # type: ignore[index,call-overload]


def test_a_key_error_in_get_job_status_says_so(store: TaskStore) -> None:
    class Parsing(FakeOperator):
        calls = 0

        def get_job_status(self, external_id: Any, context: Any) -> Any:
            Parsing.calls += 1
            return {"status": "RUNNING"}["state"]

    with pytest.raises(JobHookError, match=r"^get_job_status raised KeyError: 'state'$"):
        Parsing(FakeJobs()).execute(ctx(store))
    assert Parsing.calls == 1
    # The retry, with the bug fixed, reattaches to the job that was left running.
    jobs = FakeJobs()
    jobs.submit(None)
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": 100}


@pytest.mark.parametrize("predicate", ["is_job_active", "is_job_succeeded", "is_job_failed"])
@pytest.mark.parametrize("stored", [False, True], ids=["polling", "resume-query"])
def test_an_error_in_a_predicate_fails_at_once_naming_it(store: TaskStore, predicate: str,
                                                         stored: bool) -> None:
    calls: list[Any] = []

    def broken(self: Any, status: Any) -> bool:
        calls.append(status)
        raise ConnectionError("looks transient, but it is the predicate's own bug")

    operator = type("Broken", (FakeOperator,), {predicate: broken})
    jobs = FakeJobs(script=["DONE?"])
    if stored:
        reattach(store, jobs)
    with pytest.raises(JobHookError, match=f"^{predicate} raised ConnectionError") as info:
        operator(jobs).execute(ctx(store))
    assert info.value.hook == predicate and info.value.status == "DONE?"
    assert "'DONE?'" in str(info.value)
    assert calls == ["DONE?"] and jobs.status_calls == 1  # neither retried nor re-asked
    assert len(jobs.submissions) == 1


def test_is_transient_error_can_be_widened(store: TaskStore) -> None:
    class Tolerant(FakeOperator):
        def is_transient_error(self, error: BaseException) -> bool:
            return isinstance(error, ValueError) or super().is_transient_error(error)

    jobs = FakeJobs(lookup_errors=3, lookup_error=lambda: ValueError("half a JSON body"))
    assert Tolerant(jobs).execute(ctx(store)) == {"job": 100}
    assert jobs.status_calls == 5


def test_an_error_in_is_transient_error_is_named(store: TaskStore) -> None:
    class Broken(FakeOperator):
        def is_transient_error(self, error: BaseException) -> bool:
            raise AttributeError("response")

    jobs = FakeJobs(lookup_errors=3)
    with pytest.raises(JobHookError, match=r"^is_transient_error raised AttributeError"):
        Broken(jobs).execute(ctx(store))
    assert jobs.status_calls == 1


def test_job_not_found_keeps_its_meaning(store: TaskStore) -> None:
    jobs = FakeJobs(lookup_errors=1, lookup_error=lambda: JobNotFoundError("gone"))
    reattach(store, jobs)
    assert FakeOperator(jobs).execute(ctx(store)) == {"job": 101}  # resubmitted
    assert len(jobs.submissions) == 2


def test_keyboard_interrupt_is_neither_wrapped_nor_retried(store: TaskStore) -> None:
    jobs = FakeJobs(lookup_errors=5, lookup_error=KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt):
        FakeOperator(jobs).execute(ctx(store))
    assert jobs.status_calls == 1


def test_the_pure_helpers() -> None:
    assert str(hook_error("get_job_status", KeyError("state"))) == (
        "get_job_status raised KeyError: 'state'")
    assert str(hook_error("h", RuntimeError())) == "h raised RuntimeError"
    assert call_predicate("p", lambda s: s == 1, 1) is True
    with pytest.raises(JobHookError, match="p raised ZeroDivisionError") as info:
        call_predicate("p", lambda s: 1 / s > 0, 0)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    order: list[str] = []

    def pred(name: str, answer: bool) -> Any:
        return lambda status: order.append(name) or answer

    kind = classify_status("x", is_active=pred("a", False), is_succeeded=pred("s", False),
                           is_failed=pred("f", False))
    assert kind.value == "unknown" and order == ["a", "s", "f"]

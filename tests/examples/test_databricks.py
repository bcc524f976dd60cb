"""The Databricks example against our own Databricks-shaped job server (a real subprocess):
a SIGKILLed worker's retry reattaches to the same run, a crash right after ``runs/submit``
adopts (or, by token, dedupes to) the same run, and a failed run is resubmitted once."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.databricks.operator import DatabricksSubmitRunOperator, is_run_not_found
from resumable import JobNotFoundError, idempotency_token_for
from resumable.demo import JobServer
from store_client import TaskScope, connect
from tests.support.worker import finish_worker, kill_worker, start_worker

TARGET = "examples.databricks.operator:DatabricksSubmitRunOperator"
SCOPE = TaskScope("dag", "run", "task")  # the worker's default scope
KEY = DatabricksSubmitRunOperator.external_id_key


class DiesAfterSubmit(DatabricksSubmitRunOperator):
    """Dies like a SIGKILLed worker right after ``runs/submit`` answered, before the ID is
    stored (run in a worker process only)."""

    def submit_job(self, context: Any) -> int:
        super().submit_job(context)
        os._exit(17)


class CannotFind(DatabricksSubmitRunOperator):
    """Like real Databricks, whose ``runs/list`` does not show idempotency tokens."""

    def find_job(self, token: str, context: Any) -> int | None:
        return None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[JobServer]:
    with JobServer(state_path=tmp_path / "runs.db", pending_seconds=0.5,
                   run_seconds=4) as srv:
        yield srv


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def kwargs(server: JobServer, **extra: Any) -> dict[str, Any]:
    return {"host": server.url, "run_name": "nightly", "poll_interval": 0.2,
            "poll_timeout": 60, **extra}


def wait_for_submissions(server: JobServer, count: int, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subs = server.submissions()
        if len(subs) >= count:
            return subs
        time.sleep(0.05)
    raise AssertionError(f"{count} submission(s) not seen after {timeout} s")


def stored_run_id(store_url: str) -> Any:
    with connect(store_url) as client:
        return client.task_store(SCOPE).get(KEY)


def test_sigkilled_worker_is_reattached_to_the_same_run(server: JobServer,
                                                         store_url: str) -> None:
    first = start_worker(TARGET, store_url=store_url, kwargs=kwargs(server))
    try:
        [sub] = wait_for_submissions(server, 1)
        deadline = time.monotonic() + 30  # kill once the ID is stored: it is polling now
        while stored_run_id(store_url) != sub["run_id"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        kill_worker(first)
    assert stored_run_id(store_url) == sub["run_id"]
    assert server.submissions()[0]["state"]["life_cycle_state"] in ("PENDING", "RUNNING")
    result = finish_worker(start_worker(TARGET, store_url=store_url, kwargs=kwargs(server)))
    assert result == {"run_id": sub["run_id"], "result_state": "SUCCESS"}
    [only] = server.submissions()
    assert only["run_id"] == sub["run_id"]
    assert only["idempotency_token"] == idempotency_token_for(SCOPE, KEY, 0)
    # Databricks' own guarantee, which the retry relies on: same token, same run.
    again = httpx.post(server.url + "/api/2.1/jobs/runs/submit",
                       json={"run_name": "nightly",
                             "idempotency_token": only["idempotency_token"]})
    assert again.json() == {"run_id": sub["run_id"]}
    assert len(server.submissions()) == 1


@pytest.mark.parametrize("retry_target", [TARGET, "tests.examples.test_databricks:CannotFind"])
def test_crash_between_submit_and_persist_makes_no_second_run(
        server: JobServer, store_url: str, retry_target: str) -> None:
    dying = start_worker("tests.examples.test_databricks:DiesAfterSubmit",
                         store_url=store_url, kwargs=kwargs(server, duration_seconds=1))
    out, _ = dying.communicate(timeout=60)
    assert dying.returncode == 17, out
    assert stored_run_id(store_url) is None  # submitted, but the ID never got stored
    [sub] = server.submissions()
    # find_job adopts the run by its token; without find_job, the resubmission carries
    # the same token and the server hands back the same run.
    result = finish_worker(start_worker(retry_target, store_url=store_url,
                                        kwargs=kwargs(server, duration_seconds=1)))
    assert result == {"run_id": sub["run_id"], "result_state": "SUCCESS"}
    assert [s["run_id"] for s in server.submissions()] == [sub["run_id"]]
    assert stored_run_id(store_url) == sub["run_id"]


def test_failed_run_fails_the_try_and_the_next_try_submits_a_new_run(
        server: JobServer, store_url: str) -> None:
    failing = start_worker(TARGET, store_url=store_url,
                           kwargs=kwargs(server, duration_seconds=0.5, fail=True))
    out, _ = failing.communicate(timeout=60)
    assert failing.returncode != 0, out
    [failed] = server.submissions()
    assert failed["state"]["result_state"] == "FAILED"
    result = finish_worker(start_worker(TARGET, store_url=store_url,
                                        kwargs=kwargs(server, duration_seconds=0.5)))
    first, second = server.submissions()
    assert first["run_id"] == failed["run_id"]
    assert result == {"run_id": second["run_id"], "result_state": "SUCCESS"}
    assert second["idempotency_token"] == idempotency_token_for(SCOPE, KEY, 1)
    assert first["idempotency_token"] != second["idempotency_token"]


def test_in_process_execute_with_a_token_and_unknown_run(tmp_path: Path) -> None:
    with JobServer(state_path=tmp_path / "auth.db", pending_seconds=0, run_seconds=0.3,
                   token="dapi-test") as srv:
        op = DatabricksSubmitRunOperator(host=srv.url + "/", token="dapi-test",
                                         run_name="in-process", poll_interval=0.1)
        with connect("memory://") as client:
            result = op.execute({"task_store": client.task_store(SCOPE)})
        assert result == {"run_id": 1, "result_state": "SUCCESS"}
        with pytest.raises(JobNotFoundError):
            op.get_job_status(999, {})
        op.cancel_job(999, {})  # logs, does not raise
        anonymous = DatabricksSubmitRunOperator(host=srv.url, run_name="x")
        with pytest.raises(httpx.HTTPStatusError, match="401"):
            anonymous.get_job_status(1, {})


@pytest.mark.parametrize(("status", "active", "succeeded", "failed"), [
    ("PENDING", True, False, False),
    ("QUEUED", True, False, False),
    ("RUNNING", True, False, False),
    ("TERMINATING", True, False, False),
    ("TERMINATED:SUCCESS", False, True, False),
    ("TERMINATED:FAILED", False, False, True),
    ("TERMINATED:CANCELED", False, False, True),
    ("TERMINATED:TIMEDOUT", False, False, True),
    ("SKIPPED", False, False, True),
    ("INTERNAL_ERROR:FAILED", False, False, True),
    ("TERMINATED", False, False, False),        # no result yet: unknown
    ("SOMETHING_NEW", False, False, False),     # unknown, never a blind resubmit
])
def test_status_mapping(status: str, active: bool, succeeded: bool, failed: bool) -> None:
    op = DatabricksSubmitRunOperator(host="http://unused", run_name="x")
    assert (op.is_job_active(status), op.is_job_succeeded(status),
            op.is_job_failed(status)) == (active, succeeded, failed)


@pytest.mark.parametrize(("status", "body", "expected"), [
    (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "Run 7 does not exist."}, True),
    (400, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 7 does not exist."}, True),
    (404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "gone"}, True),
    (400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "run_id must be an int"}, False),
    (500, {"error_code": "INTERNAL_ERROR", "message": "Run 7 does not exist."}, False),
    (200, {"run_id": 7}, False),
])
def test_not_found_detection(status: int, body: dict[str, Any], expected: bool) -> None:
    request = httpx.Request("GET", "http://x/api/2.1/jobs/runs/get?run_id=7")
    assert is_run_not_found(httpx.Response(status, json=body, request=request)) is expected

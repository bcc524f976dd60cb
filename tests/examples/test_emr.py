"""EmrAddStepOperator against a real boto3 client and moto's EMR server (in this process).

moto never moves a step on by itself: the first step of a cluster is RUNNING, later
ones PENDING. These tests drive step states through moto's backend objects, which live
in this process because ``ThreadedMotoServer`` serves from a thread here; worker
processes reach the same server over HTTP. That reaches into moto internals, so moto is
pinned exactly (5.2.5).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped,unused-ignore]
import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends
from moto.server import ThreadedMotoServer

from examples.emr import EmrAddStepOperator
from resumable import JobFailedError, JobNotFoundError
from store_client import TaskScope, connect
from tests.support.worker import finish_worker, kill_worker, start_worker

REGION = "us-east-1"
KEY = EmrAddStepOperator.external_id_key
SCOPE = TaskScope("emr_dag", "run_1", "add_step")
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """moto's EMR (and everything else) on a free loopback port, with fake credentials."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in FAKE_AWS_ENV.items():
            mp.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture
def emr(moto_url: str) -> Any:
    return boto3.client("emr", region_name=REGION, endpoint_url=moto_url)


@pytest.fixture
def cluster_id(emr: Any) -> str:
    """A new, empty, long-running cluster per test (so step counts are the test's own)."""
    response = emr.run_job_flow(
        Name="resumable-test", ReleaseLabel="emr-7.1.0",
        Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge",
                   "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")
    cluster: str = response["JobFlowId"]
    return cluster


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def task_store(store_url: str) -> Iterator[Any]:
    with connect(store_url) as client:
        yield client.task_store(SCOPE)


def make_operator(cluster_id: str, moto_url: str,
                  cls: type[EmrAddStepOperator] = EmrAddStepOperator) -> EmrAddStepOperator:
    return cls(cluster_id=cluster_id, step_name="nightly", args=["spark-submit", "job.py"],
               endpoint_url=moto_url, poll_interval=0.02, poll_timeout=30)


# -- driving moto's steps from the test process ----------------------------------------

def backend_steps(cluster_id: str) -> list[Any]:
    return list(emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster_id].steps)


def wait_for_steps(cluster_id: str, count: int, timeout: float = 30) -> list[Any]:
    """Wait until the cluster has ``count`` steps; return them, oldest first."""
    deadline = time.monotonic() + timeout
    while len(steps := backend_steps(cluster_id)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"cluster {cluster_id} has {len(steps)} steps, not {count}")
        time.sleep(0.01)
    return steps


class StepDriver:
    """Background thread: once step number ``index`` (0-based) exists, set its state."""

    def __init__(self, cluster_id: str, index: int, state: str, delay: float = 0.2) -> None:
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(cluster_id, index, state, delay), daemon=True)

    def _run(self, cluster_id: str, index: int, state: str, delay: float) -> None:
        try:
            step = wait_for_steps(cluster_id, index + 1)[index]
            time.sleep(delay)  # let the operator see it active first
            step.state = state
        except BaseException as exc:  # reported by __exit__
            self.error = exc

    def __enter__(self) -> StepDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join(timeout=60)
        if self.error is not None:
            raise self.error


def listed_steps(emr: Any, cluster_id: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id):
        steps += page["Steps"]
    return steps


# -- tests -----------------------------------------------------------------------------

def test_fresh_submit_waits_for_the_step_and_returns_its_result(
        emr: Any, cluster_id: str, moto_url: str, task_store: Any) -> None:
    op = make_operator(cluster_id, moto_url)
    with StepDriver(cluster_id, 0, "COMPLETED"):
        result = op.execute({"task_store": task_store})

    (step,) = listed_steps(emr, cluster_id)
    assert result == {"step_id": step["Id"], "state": "COMPLETED"}
    assert step["Name"] == f"nightly [{op.idempotency_token}]"
    assert step["Config"]["Args"] == ["spark-submit", "job.py"]
    assert task_store.get(KEY) == step["Id"]


def test_completed_step_is_not_submitted_again(
        emr: Any, cluster_id: str, moto_url: str, task_store: Any) -> None:
    with StepDriver(cluster_id, 0, "COMPLETED", delay=0):
        first = make_operator(cluster_id, moto_url).execute({"task_store": task_store})
    again = make_operator(cluster_id, moto_url).execute({"task_store": task_store})

    assert again == first
    assert len(listed_steps(emr, cluster_id)) == 1


class _WorkerDied(BaseException):
    """Stands for the worker dying: not an Exception, so nothing on the way catches it."""


class _DiesAfterSubmit(EmrAddStepOperator):
    def submit_job(self, context: Any) -> str:
        super().submit_job(context)
        raise _WorkerDied


def test_crash_between_submit_and_persist_adopts_the_step(
        emr: Any, cluster_id: str, moto_url: str, task_store: Any) -> None:
    # The worker dies after add_job_flow_steps returned and before the step ID was
    # stored: the mixin has written its intent (with the token) and nothing else. The
    # crash goes through the public API only: execute() runs the real submit path.
    crashed = make_operator(cluster_id, moto_url, _DiesAfterSubmit)
    with pytest.raises(_WorkerDied):
        crashed.execute({"task_store": task_store})
    token = crashed.idempotency_token
    assert task_store.get(KEY) is None
    (orphan,) = listed_steps(emr, cluster_id)

    retry = make_operator(cluster_id, moto_url)
    with StepDriver(cluster_id, 0, "COMPLETED"):
        result = retry.execute({"task_store": task_store})

    assert retry.idempotency_token == token
    assert result == {"step_id": orphan["Id"], "state": "COMPLETED"}
    steps = listed_steps(emr, cluster_id)
    assert [s["Id"] for s in steps if s["Name"].endswith(f"[{token}]")] == [orphan["Id"]]
    assert len(steps) == 1
    assert task_store.get(KEY) == orphan["Id"]


def test_failed_step_raises_and_the_next_try_adds_a_new_generation(
        emr: Any, cluster_id: str, moto_url: str, task_store: Any) -> None:
    first = make_operator(cluster_id, moto_url)
    with StepDriver(cluster_id, 0, "FAILED"), pytest.raises(JobFailedError) as failed:
        first.execute({"task_store": task_store})
    assert failed.value.status == "FAILED"

    second = make_operator(cluster_id, moto_url)
    with StepDriver(cluster_id, 1, "COMPLETED"):
        result = second.execute({"task_store": task_store})

    old, new = sorted(listed_steps(emr, cluster_id),
                      key=lambda s: s["Status"]["Timeline"]["CreationDateTime"])
    assert old["Status"]["State"] == "FAILED"
    assert first.idempotency_token != second.idempotency_token
    assert old["Name"] == f"nightly [{first.idempotency_token}]"
    assert new["Name"] == f"nightly [{second.idempotency_token}]"
    assert result == {"step_id": new["Id"], "state": "COMPLETED"}


def test_unknown_step_id_is_job_not_found_and_resubmitted(
        emr: Any, cluster_id: str, moto_url: str, task_store: Any,
        caplog: pytest.LogCaptureFixture) -> None:
    op = make_operator(cluster_id, moto_url)
    # moto answers DescribeStep for an unknown step with HTTP 200 and no "Step".
    with pytest.raises(JobNotFoundError):
        op.get_job_status("s-DOESNOTEXIST", {})

    task_store.set(KEY, "s-DOESNOTEXIST")  # e.g. an ID left by another EMR account
    with StepDriver(cluster_id, 0, "COMPLETED"), caplog.at_level(logging.WARNING):
        result = op.execute({"task_store": task_store})

    (step,) = listed_steps(emr, cluster_id)
    assert result["step_id"] == step["Id"] != "s-DOESNOTEXIST"
    assert any("no longer knows" in r.getMessage() for r in caplog.records
               if r.levelno >= logging.WARNING)


def test_find_job_reads_every_page_of_list_steps(
        emr: Any, cluster_id: str, moto_url: str) -> None:
    op = make_operator(cluster_id, moto_url)
    op.idempotency_token = "rsm-find-me-g0"
    target = op.submit_job({})
    filler = [{"Name": f"other {i}", "ActionOnFailure": "CONTINUE",
               "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["true"]}}
              for i in range(120)]
    emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=filler)
    # ListSteps returns newest first, so the target is only on a later page.
    assert "Marker" in emr.list_steps(ClusterId=cluster_id)

    assert op.find_job("rsm-find-me-g0", {}) == target
    assert op.find_job("rsm-find-me-g1", {}) is None  # a suffix match, not a prefix one


def test_cancel_job_logs_when_emr_refuses(
        cluster_id: str, moto_url: str, caplog: pytest.LogCaptureFixture) -> None:
    op = make_operator(cluster_id, moto_url)
    op.idempotency_token = "rsm-cancel-g0"
    step_id = op.submit_job({})
    with caplog.at_level(logging.WARNING, logger="examples.emr.operator"):
        op.cancel_job(step_id, {})  # moto 5.2.5: CancelSteps is HTTP 500 (not implemented)
    assert any(f"could not cancel EMR step {step_id}" in r.getMessage()
               for r in caplog.records)


# -- real worker processes, SIGKILLed -----------------------------------------------------

def _start(target: str, cluster_id: str, moto_url: str, store_url: str) -> Any:
    """A worker running ``target`` on SCOPE; the moto server is reached over HTTP."""
    kwargs = {"cluster_id": cluster_id, "step_name": "nightly",
              "args": ["spark-submit", "job.py"], "endpoint_url": moto_url,
              "poll_interval": 0.05, "poll_timeout": 60}
    return start_worker(target, store_url=store_url, dag=SCOPE.dag_id, run=SCOPE.run_id,
                        task=SCOPE.task_id, kwargs=kwargs)


def _wait_until(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigkilled_worker_is_reattached_to_its_running_step(
        emr: Any, cluster_id: str, moto_url: str, store_url: str, task_store: Any) -> None:
    first = _start("examples.emr:EmrAddStepOperator", cluster_id, moto_url, store_url)
    try:
        (step,) = wait_for_steps(cluster_id, 1)
        _wait_until(lambda: task_store.get(KEY) == step.id, "the step ID to be stored")
        assert step.state == "RUNNING"
    finally:
        kill_worker(first)

    second = _start("examples.emr:EmrAddStepOperator", cluster_id, moto_url, store_url)
    try:
        with StepDriver(cluster_id, 0, "COMPLETED", delay=1.0):
            result = finish_worker(second)
    finally:
        kill_worker(second)

    assert result == {"step_id": step.id, "state": "COMPLETED"}
    assert [s["Id"] for s in listed_steps(emr, cluster_id)] == [step.id]


class SelfKillingAfterSubmit(EmrAddStepOperator):
    """Worker target: SIGKILLs its own process right after add_job_flow_steps returned."""

    def submit_job(self, context: Any) -> str:
        step_id = super().submit_job(context)
        os.kill(os.getpid(), signal.SIGKILL)
        return step_id  # pragma: no cover


def test_worker_killed_before_storing_the_step_id_is_adopted_by_the_retry(
        emr: Any, cluster_id: str, moto_url: str, store_url: str, task_store: Any) -> None:
    first = _start(f"{__name__}:SelfKillingAfterSubmit", cluster_id, moto_url, store_url)
    try:
        assert first.wait(timeout=60) == -signal.SIGKILL
    finally:
        kill_worker(first)
    (orphan,) = backend_steps(cluster_id)
    assert task_store.get(KEY) is None

    second = _start("examples.emr:EmrAddStepOperator", cluster_id, moto_url, store_url)
    try:
        with StepDriver(cluster_id, 0, "COMPLETED"):
            result = finish_worker(second)
    finally:
        kill_worker(second)

    assert result == {"step_id": orphan.id, "state": "COMPLETED"}
    assert [s["Id"] for s in listed_steps(emr, cluster_id)] == [orphan.id]

"""The Spark standalone example against a real cluster: SIGKILL the worker, reattach.

Each driver costs 12-15 s of Spark overhead, so the tests keep their apps short.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.spark_standalone.operator import DriverLookupError, SparkStandaloneSubmitOperator
from resumable import JobNotFoundError, idempotency_token_for
from store_client import TaskScope, connect
from tests.support.spark import SparkCluster
from tests.support.worker import finish_worker, kill_worker, start_worker

APP = Path(__file__).resolve().parents[2] / "examples" / "spark_standalone" / "app.py"
TARGET = "examples.spark_standalone.operator:SparkStandaloneSubmitOperator"
KEY = SparkStandaloneSubmitOperator.external_id_key


class CrashAfterSubmit(SparkStandaloneSubmitOperator):
    """Dies by SIGKILL right after the driver was created, before its ID is stored."""

    def submit_job(self, context: Any) -> str:
        super().submit_job(context)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def _kwargs(cluster: SparkCluster, output: Path, n: int, sleep: float) -> dict[str, Any]:
    return {"rest_url": cluster.rest_url, "master_url": cluster.master_url,
            "web_url": cluster.web_url, "app_file": str(APP),
            "app_args": [str(output), str(n), str(sleep)], "python": sys.executable,
            "poll_interval": 0.5, "poll_timeout": 180}


def _wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _driver_state(cluster: SparkCluster, driver_id: str) -> str | None:
    answer = httpx.get(f"{cluster.rest_url}/v1/submissions/status/{driver_id}").json()
    state = answer.get("driverState")
    return str(state) if state else None


def _drivers_named(cluster: SparkCluster, token: str) -> list[str]:
    """IDs of the drivers launched with ``spark.app.name`` = token (read from the Worker)."""
    needle = f'"-Dspark.app.name={token}"'
    found = []
    for stderr in (cluster.root / "work").glob("driver-*/stderr"):
        with stderr.open(errors="replace") as handle:
            if needle in handle.readline():
                found.append(stderr.parent.name)
    return sorted(found)


def _apps_named(cluster: SparkCluster, token: str) -> list[dict[str, Any]]:
    state = cluster.master_state()
    return [app for app in state["activeapps"] + state["completedapps"] if app["name"] == token]


def test_sigkilled_worker_reattaches_to_the_running_driver(
        spark_cluster: SparkCluster, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    scope = TaskScope("spark_dag", "run-reattach", "submit")
    token = idempotency_token_for(scope, KEY, 0)
    output = tmp_path / "out.json"
    kwargs = _kwargs(spark_cluster, output, 100, 1)
    worker_args: dict[str, Any] = {"store_url": url, "dag": scope.dag_id, "run": scope.run_id,
                   "task": scope.task_id, "kwargs": kwargs}

    first = start_worker(TARGET, **worker_args)
    try:
        with connect(url) as client:
            store = client.task_store(scope)
            driver_id = _wait_for("the driver ID in the store", lambda: store.get(KEY))
        _wait_for("the driver to run",
                  lambda: _driver_state(spark_cluster, driver_id) == "RUNNING")
    finally:
        kill_worker(first)
    assert first.returncode == -signal.SIGKILL
    # The driver outlives the worker that submitted it.
    assert _driver_state(spark_cluster, driver_id) == "RUNNING"
    assert not output.exists()

    second = start_worker(TARGET, **worker_args)
    try:
        result = finish_worker(second, timeout=120)
    finally:
        kill_worker(second)

    assert result == {"driver_id": driver_id, "state": "FINISHED"}
    assert json.loads(output.read_text()) == {"sum": 4950, "n": 100}
    assert _drivers_named(spark_cluster, token) == [driver_id]
    apps = _apps_named(spark_cluster, token)
    assert len(apps) == 1
    assert apps[0]["state"] == "FINISHED"


def test_crash_between_submit_and_persist_adopts_the_driver(
        spark_cluster: SparkCluster, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/store.db"
    scope = TaskScope("spark_dag", "run-adopt", "submit")
    token = idempotency_token_for(scope, KEY, 0)
    output = tmp_path / "out.json"
    worker_args: dict[str, Any] = {"store_url": url, "dag": scope.dag_id, "run": scope.run_id,
                   "task": scope.task_id, "kwargs": _kwargs(spark_cluster, output, 10, 0)}

    crashing = start_worker(f"{__name__}:CrashAfterSubmit", **worker_args)
    try:
        assert crashing.wait(timeout=60) == -signal.SIGKILL
    finally:
        kill_worker(crashing)
    with connect(url) as client:
        assert client.task_store(scope).get(KEY) is None  # the ID never reached the store
    submitted = _drivers_named(spark_cluster, token) or _wait_for(
        "the driver to launch", lambda: _drivers_named(spark_cluster, token))
    assert len(submitted) == 1

    retry = start_worker(TARGET, **worker_args)
    try:
        result = finish_worker(retry, timeout=120)
    finally:
        kill_worker(retry)

    assert result == {"driver_id": submitted[0], "state": "FINISHED"}
    assert json.loads(output.read_text()) == {"sum": 45, "n": 10}
    assert _drivers_named(spark_cluster, token) == submitted  # no duplicate


def test_find_job_maps_the_token_to_the_driver(
        spark_cluster: SparkCluster, tmp_path: Path) -> None:
    op = SparkStandaloneSubmitOperator(**_kwargs(spark_cluster, tmp_path / "out.json", 10, 30))
    op.find_timeout = 60
    op.idempotency_token = "rsm-find-job-test-g0"
    driver_id = op.submit_job({})
    try:
        # Straight after the submit the driver's log may not exist yet: find_job waits.
        assert op.find_job("rsm-find-job-test-g0", {}) == driver_id
        assert op.find_job("rsm-no-such-token-g0", {}) is None
        assert op.get_job_status(driver_id, {}) in {"SUBMITTED", "RUNNING"}
    finally:
        op.cancel_job(driver_id, {})
    _wait_for("the driver to be killed", lambda: op.get_job_status(driver_id, {}) == "KILLED",
              timeout=30)
    assert op.is_job_failed("KILLED")
    assert op.find_job("rsm-find-job-test-g0", {}) == driver_id  # completed drivers too
    op.cancel_job(driver_id, {})  # killing an ended driver is harmless
    with pytest.raises(JobNotFoundError):
        op.get_job_status("driver-20000101000000-9999", {})


def test_status_predicates() -> None:
    op = SparkStandaloneSubmitOperator(rest_url="http://x", master_url="spark://x:1",
                                       web_url="http://x", app_file=str(APP))
    for state in ("SUBMITTED", "RUNNING", "RELAUNCHING"):
        assert op.is_job_active(state)
        assert not op.is_job_succeeded(state) and not op.is_job_failed(state)
    assert op.is_job_succeeded("FINISHED") and not op.is_job_failed("FINISHED")
    for state in ("FAILED", "KILLED", "ERROR"):
        assert op.is_job_failed(state) and not op.is_job_active(state)
    # UNKNOWN is claimed by no predicate: the mixin asks again instead of resubmitting.
    assert not (op.is_job_active("UNKNOWN") or op.is_job_succeeded("UNKNOWN")
                or op.is_job_failed("UNKNOWN"))
    body = op.submission_body("rsm-abc-g0")
    assert body["sparkProperties"]["spark.app.name"] == "rsm-abc-g0"
    assert body["appArgs"][:2] == [str(APP), ""]


def _fake_master(op: SparkStandaloneSubmitOperator, monkeypatch: pytest.MonkeyPatch,
                 handler: Callable[[httpx.Request], httpx.Response]) -> None:
    def client() -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)

    monkeypatch.setattr(op, "_client", client)


def test_find_job_waits_for_a_driver_not_launched_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    op = SparkStandaloneSubmitOperator(rest_url="http://rest", master_url="spark://m:1",
                                       web_url="http://web", app_file=str(APP))
    op.find_timeout = 10
    listings = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal listings
        if request.url.host == "web":
            listings += 1
            launched = listings > 1  # SUBMITTED on the first look, launched on the second
            driver = {"id": "driver-1", "state": "RUNNING" if launched else "SUBMITTED",
                      "worker": "w1" if launched else "None"}
            return httpx.Response(200, json={
                "workers": [{"id": "w1", "webuiaddress": "http://worker"}],
                "activedrivers": [driver], "completeddrivers": []})
        assert request.url.params["driverId"] == "driver-1"
        return httpx.Response(200, text='==== Bytes ====\nLaunch Command: "java" '
                                        '"-Dspark.app.name=rsm-t-g0" "x"\n=====\n')

    _fake_master(op, monkeypatch, handler)
    assert op.find_job("rsm-t-g0", {}) == "driver-1"
    assert listings == 2
    assert op.find_job("rsm-other-g0", {}) is None

    op.find_timeout = 0.5
    listings = -10**6  # never launched
    with pytest.raises(DriverLookupError, match="driver-1"):
        op.find_job("rsm-t-g0", {})


def test_status_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    op = SparkStandaloneSubmitOperator(rest_url="http://rest", master_url="spark://m:1",
                                       web_url="http://web", app_file=str(APP))
    answers = {
        "driver-known": {"success": True, "driverState": "UNKNOWN"},
        "driver-gone": {"success": False},
        "driver-standby": {"success": False, "message": "Current state is not alive: STANDBY"},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers[request.url.path.rsplit("/", 1)[-1]])

    _fake_master(op, monkeypatch, handler)
    assert op.get_job_status("driver-known", {}) == "UNKNOWN"
    with pytest.raises(JobNotFoundError):
        op.get_job_status("driver-gone", {})
    with pytest.raises(ConnectionError, match="STANDBY") as info:
        op.get_job_status("driver-standby", {})
    assert not isinstance(info.value, JobNotFoundError)
    assert op.is_transient_error(info.value)  # the mixin asks again

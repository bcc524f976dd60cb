"""The Databricks-shaped job server, as a real subprocess: the Jobs API calls, run states
advancing with the clock, idempotency tokens, cancel, errors, auth and restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from resumable.demo import JobServer

API = "/api/2.1/jobs/runs/"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[JobServer]:
    with JobServer(state_path=tmp_path / "runs.db", pending_seconds=1.0,
                   run_seconds=1.0) as srv:
        yield srv


def submit(srv: JobServer, **body: Any) -> int:
    resp = httpx.post(srv.url + API + "submit", json={"run_name": "r", **body})
    assert resp.status_code == 200, resp.text
    run_id = resp.json()["run_id"]
    assert isinstance(run_id, int)
    return run_id


def get(srv: JobServer, run_id: int) -> dict[str, Any]:
    resp = httpx.get(srv.url + API + "get", params={"run_id": run_id})
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def states_until_terminated(srv: JobServer, run_id: int, timeout: float = 15) -> list[str]:
    """The distinct life-cycle states seen while polling every 50 ms, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        life = get(srv, run_id)["state"]["life_cycle_state"]
        if not seen or seen[-1] != life:
            seen.append(life)
        if life == "TERMINATED":
            return seen
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} not terminated after {timeout} s: {seen}")


def test_a_run_goes_pending_running_terminated_success(server: JobServer) -> None:
    before = time.time()
    run_id = submit(server, tasks=[{"task_key": "t"}])
    first = get(server, run_id)
    assert first["run_name"] == "r"
    assert first["end_time"] == 0
    assert "result_state" not in first["state"]
    assert before * 1000 - 1 <= first["start_time"] <= time.time() * 1000 + 1
    assert states_until_terminated(server, run_id) == ["PENDING", "RUNNING", "TERMINATED"]
    final = get(server, run_id)
    assert final["state"]["result_state"] == "SUCCESS"
    assert final["end_time"] - final["start_time"] == pytest.approx(2000, abs=2)


def test_fail_ends_failed_and_duration_overrides_run_seconds(server: JobServer) -> None:
    run_id = submit(server, fail=True, duration_seconds=0)
    assert states_until_terminated(server, run_id)[-1] == "TERMINATED"
    run = get(server, run_id)
    assert run["state"]["result_state"] == "FAILED"
    assert run["end_time"] - run["start_time"] == pytest.approx(1000, abs=2)


def test_same_idempotency_token_returns_the_same_run(server: JobServer) -> None:
    first = submit(server, idempotency_token="tok-1")
    assert submit(server, idempotency_token="tok-1", run_name="other") == first
    second = submit(server, idempotency_token="tok-2")
    untokened = [submit(server), submit(server)]
    assert len({first, second, *untokened}) == 4
    subs = server.submissions()
    assert [s["run_id"] for s in subs] == [first, second, *untokened]
    assert [s["idempotency_token"] for s in subs] == ["tok-1", "tok-2", None, None]
    assert subs[0]["run_name"] == "r"


def test_concurrent_submissions_with_one_token_make_one_run(server: JobServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: submit(server, idempotency_token="same"), range(16)))
    assert len(ids) == 1
    assert len(server.submissions()) == 1


def test_cancel_terminates_canceled_and_is_a_no_op_once_ended(server: JobServer) -> None:
    run_id = submit(server)
    resp = httpx.post(server.url + API + "cancel", json={"run_id": run_id})
    assert (resp.status_code, resp.json()) == (200, {})
    state = get(server, run_id)["state"]
    assert (state["life_cycle_state"], state["result_state"]) == ("TERMINATED", "CANCELED")
    done = submit(server, duration_seconds=0)
    states_until_terminated(server, done)
    httpx.post(server.url + API + "cancel", json={"run_id": done}).raise_for_status()
    assert get(server, done)["state"]["result_state"] == "SUCCESS"


@pytest.mark.parametrize(("method", "endpoint"), [("GET", "get"), ("POST", "cancel")])
def test_unknown_run_id_is_answered_as_databricks_does(server: JobServer, method: str,
                                                   endpoint: str) -> None:
    if method == "GET":
        resp = httpx.get(server.url + API + endpoint, params={"run_id": 4242})
    else:
        resp = httpx.post(server.url + API + endpoint, json={"run_id": 4242})
    assert resp.status_code == 400
    # Real Databricks: 400 INVALID_PARAMETER_VALUE "Run N does not exist." (its SDKs
    # remap exactly this to ResourceDoesNotExist).
    assert resp.json() == {"error_code": "INVALID_PARAMETER_VALUE",
                           "message": "Run 4242 does not exist."}


@pytest.mark.parametrize("body", [{}, {"run_name": ""}, {"run_name": 3},
                                  {"run_name": "r", "idempotency_token": "x" * 65},
                                  {"run_name": "r", "duration_seconds": -1}])
def test_bad_submissions_are_invalid_parameter_value(server: JobServer,
                                                     body: dict[str, Any]) -> None:
    resp = httpx.post(server.url + API + "submit", json=body)
    assert resp.status_code == 400
    assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert resp.json()["message"]
    assert server.submissions() == []


def test_malformed_requests_and_unknown_endpoints(server: JobServer) -> None:
    resp = httpx.post(server.url + API + "submit", content=b"{not json")
    assert (resp.status_code, resp.json()["error_code"]) == (400, "MALFORMED_REQUEST")
    resp = httpx.get(server.url + API + "get", params={"run_id": "abc"})
    assert (resp.status_code, resp.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    resp = httpx.get(server.url + API + "get")
    assert resp.status_code == 400
    resp = httpx.get(server.url + "/api/2.1/jobs/list")
    assert (resp.status_code, resp.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")


def test_list_is_newest_first_and_filters_by_run_name(server: JobServer) -> None:
    a, b, c = submit(server, run_name="a"), submit(server, run_name="b"), submit(server,
                                                                                run_name="a")
    listed = httpx.get(server.url + API + "list").json()
    assert [r["run_id"] for r in listed["runs"]] == [c, b, a]
    assert listed["has_more"] is False
    assert listed["runs"][0] == get(server, c)
    only_a = httpx.get(server.url + API + "list", params={"run_name": "a"}).json()["runs"]
    assert [r["run_id"] for r in only_a] == [c, a]


def test_token_is_required_when_configured(tmp_path: Path) -> None:
    with JobServer(state_path=tmp_path / "auth.db", token="s3cret") as srv:
        url = srv.url + API + "list"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            resp = httpx.get(url, headers=headers)
            assert resp.status_code == 401
            assert resp.json()["error_code"] == "UNAUTHENTICATED"
        assert httpx.get(url, headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_restart_keeps_runs_tokens_and_clock(tmp_path: Path) -> None:
    with JobServer(state_path=tmp_path / "runs.db", pending_seconds=0,
                   run_seconds=3) as srv:
        run_id = submit(srv, idempotency_token="keep")
        pid = srv.pid
        srv.restart()
        assert srv.pid != pid
        assert submit(srv, idempotency_token="keep") == run_id
        assert get(srv, run_id)["state"]["life_cycle_state"] == "RUNNING"
        assert states_until_terminated(srv, run_id)[-1] == "TERMINATED"
        assert len(srv.submissions()) == 1


def test_a_sigkilled_server_loses_no_acknowledged_run(tmp_path: Path) -> None:
    srv = JobServer(state_path=tmp_path / "runs.db", run_seconds=60).start()
    try:
        run_id = submit(srv, idempotency_token="durable")
        assert srv.pid is not None
        os.killpg(srv.pid, signal.SIGKILL)
        srv.restart()
        assert [s["run_id"] for s in srv.submissions()] == [run_id]
        assert get(srv, run_id)["idempotency_token"] == "durable"
    finally:
        srv.stop()


def test_submissions_readable_while_stopped_and_temp_state_removed() -> None:
    with JobServer() as srv:
        submit(srv)
        srv.stop()
        assert len(srv.submissions()) == 1
        path = srv.state_path
    assert not path.exists()


def test_command_line_prints_one_listening_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "resumable.demo", "jobserver", "--port", "0",
         "--state", str(tmp_path / "cli.db")],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("LISTENING http://127.0.0.1:")
        port = int(line.strip().rsplit(":", 1)[1])
        assert port > 0
        assert httpx.get(line.split()[1] + API + "list").json()["runs"] == []
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

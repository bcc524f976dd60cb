"""``ResumableJobTrigger`` on its own: rebuilt from ``serialize()`` alone, polling a real
job server process (``resumable.demo.JobServer``) through the Databricks example's
``aget_job_status`` (httpx's async client), never submitting.

Scenarios: succeeded, failed, not found, the server down for a while (transient errors
retried), the deadline passing, an unauthorised answer (not transient: ``error``), an
unknown status, a triggerer "restart" (the run cancelled, rebuilt from its kwargs, run
again), and the kwargs through Airflow's own serde.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.databricks.operator import DatabricksSubmitRunOperator
from resumable._deferral import operator_path
from resumable.demo import JobServer
from tests.support import import_airflow_sdk

OPERATOR = "examples.databricks.operator:DatabricksSubmitRunOperator"
BOUND = 60.0  # no trigger run here may take longer


@pytest.fixture(scope="module")
def trigger_cls() -> Any:
    """``ResumableJobTrigger`` (Airflow imported with a throwaway ``AIRFLOW_HOME``)."""
    import_airflow_sdk()
    from resumable._trigger import ResumableJobTrigger

    return ResumableJobTrigger


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobServer]:
    path = tmp_path_factory.mktemp("trigger") / "runs.db"
    with JobServer(state_path=path, pending_seconds=0.1, run_seconds=1.0) as srv:
        yield srv


def operator(server: JobServer, **kwargs: Any) -> DatabricksSubmitRunOperator:
    op = DatabricksSubmitRunOperator(host=server.url, run_name="trigger-test",
                                     poll_interval=0.1, poll_timeout=30, **kwargs)
    op.poll_max_interval = 0.4
    return op


def submit(op: DatabricksSubmitRunOperator, token: str) -> int:
    op.idempotency_token = token
    return op.submit_job(None)


def build(trigger_cls: Any, op: DatabricksSubmitRunOperator, external_id: Any,
          generation: int | None = 0, deadline: float | None = None) -> Any:
    return trigger_cls(operator=operator_path(type(op)), state=op.trigger_state(),
                       external_id=external_id, generation=generation, deadline=deadline)


def first_event(trigger: Any, bound: float = BOUND) -> dict[str, Any]:
    async def run() -> Any:
        return await asyncio.wait_for(anext(trigger.run()), bound)

    payload: dict[str, Any] = asyncio.run(run()).payload
    return payload


def rebuilt(trigger_cls: Any, trigger: Any) -> Any:
    """What a triggerer does: import the class path, call it with the kwargs."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    assert cls is trigger_cls
    return cls(**kwargs)


def test_serialize_round_trip_through_airflows_serde(trigger_cls: Any) -> None:
    from airflow.sdk.serde import deserialize, serialize

    trigger = trigger_cls(operator=OPERATOR, state={"host": "http://127.0.0.1:9",
                                                    "token": "s3cret", "poll_interval": 1.0},
                          external_id=[7, "x"], generation=2, deadline=1.5e9)
    classpath, kwargs = trigger.serialize()
    assert classpath == "resumable._trigger.ResumableJobTrigger"
    assert kwargs == {"operator": OPERATOR, "external_id": [7, "x"], "generation": 2,
                      "deadline": 1.5e9, "state": {"host": "http://127.0.0.1:9",
                                                   "token": "s3cret", "poll_interval": 1.0}}
    again = deserialize(serialize(kwargs))  # what the task runner and dag.test do
    assert rebuilt(trigger_cls, trigger_cls(**again)).serialize() == (classpath, kwargs)
    assert "s3cret" not in repr(trigger) and "external_id=[7, 'x']" in repr(trigger)


def test_succeeded_and_never_submits(trigger_cls: Any, server: JobServer) -> None:
    op = operator(server)
    run_id = submit(op, "trig-ok")
    before = len(server.submissions())
    event = first_event(rebuilt(trigger_cls, build(trigger_cls, op, run_id, generation=3)))
    assert event == {"external_id": run_id, "generation": 3, "status": "TERMINATED:SUCCESS",
                     "outcome": "succeeded", "message": f"job {run_id!r} succeeded"}
    assert len(server.submissions()) == before


def test_failed(trigger_cls: Any, server: JobServer) -> None:
    op = operator(server, fail=True)
    run_id = submit(op, "trig-fail")
    event = first_event(build(trigger_cls, op, run_id))
    assert (event["outcome"], event["status"]) == ("failed", "TERMINATED:FAILED")
    assert "failed with status 'TERMINATED:FAILED'" in event["message"]


def test_not_found(trigger_cls: Any, server: JobServer) -> None:
    event = first_event(build(trigger_cls, operator(server), 987654))
    assert (event["outcome"], event["external_id"]) == ("not_found", 987654)
    assert "has no run 987654" in event["message"]


def test_transient_errors_are_retried_until_the_server_is_back(
        trigger_cls: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with JobServer(state_path=tmp_path / "runs.db", pending_seconds=0,
                   run_seconds=0.5) as srv:
        op = operator(srv)
        run_id = submit(op, "trig-down")
        port = srv.port
        srv.stop()  # connection refused from now on: transient

        async def scenario() -> Any:
            watch = asyncio.ensure_future(anext(build(trigger_cls, op, run_id).run()))
            await asyncio.sleep(1.5)
            assert not watch.done()
            await asyncio.to_thread(srv.start, port)
            return await asyncio.wait_for(watch, BOUND)

        with caplog.at_level(logging.WARNING, logger="resumable.jobs"):
            event = asyncio.run(scenario()).payload
    assert (event["outcome"], event["status"]) == ("succeeded", "TERMINATED:SUCCESS")
    errors = [r.getMessage() for r in caplog.records if "aget_job_status failed" in
              r.getMessage()]
    assert errors and all("ConnectError" in m for m in errors), errors


def test_the_deadline_ends_the_wait(trigger_cls: Any, server: JobServer) -> None:
    op = operator(server, duration_seconds=120)
    run_id = submit(op, "trig-slow")
    started = time.monotonic()
    event = first_event(build(trigger_cls, op, run_id, deadline=time.time() + 1.0))
    assert 0.9 <= time.monotonic() - started < 10
    assert (event["outcome"], event["status"]) == ("timeout", "RUNNING")
    assert "still active ('RUNNING') after 30 s" in event["message"]  # poll_timeout's words
    expired = first_event(build(trigger_cls, op, run_id, deadline=time.time() - 5))
    assert expired["outcome"] == "timeout"  # a deadline already past: asked once, ends


def test_a_restarted_triggerer_polls_the_same_job(trigger_cls: Any, server: JobServer) -> None:
    op = operator(server, duration_seconds=2)
    run_id = submit(op, "trig-restart")
    trigger = build(trigger_cls, op, run_id, generation=1, deadline=time.time() + 30)

    async def killed() -> None:  # the triggerer dies while it polls
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(anext(trigger.run()), 0.5)

    asyncio.run(killed())
    event = first_event(rebuilt(trigger_cls, trigger))  # a new triggerer, from kwargs only
    assert (event["external_id"], event["generation"], event["outcome"]) == (
        run_id, 1, "succeeded")
    assert [s["idempotency_token"] for s in server.submissions()].count("trig-restart") == 1


def test_a_permanent_error_ends_the_watch(trigger_cls: Any, tmp_path: Path) -> None:
    with JobServer(state_path=tmp_path / "runs.db", token="s3cret", run_seconds=0.5) as srv:
        op = operator(srv, token="s3cret")
        run_id = submit(op, "trig-auth")
        event = first_event(build(trigger_cls, op, run_id))
        assert event["outcome"] == "succeeded"  # the token travels in the state
        op.token = None
        event = first_event(build(trigger_cls, op, run_id))
    assert event["outcome"] == "error"
    assert event["message"].startswith("aget_job_status raised HTTPStatusError")
    assert "401" in event["message"]


class Weird(DatabricksSubmitRunOperator):
    """Answers a status none of the predicates claims."""

    failed_states = frozenset({"TERMINATED:FAILED"})

    async def aget_job_status(self, external_id: Any) -> str:
        return "SOMETHING_NEW"

    def is_job_failed(self, status: Any) -> bool:
        return status in self.failed_states


def test_an_unknown_status_ends_as_unknown(trigger_cls: Any, server: JobServer) -> None:
    op = Weird(host=server.url, run_name="weird", poll_interval=0.0, poll_timeout=None)
    op.max_unknown_statuses, op.poll_max_interval = 3, 0.0
    event = first_event(build(trigger_cls, op, 5))
    assert (event["outcome"], event["status"]) == ("unknown", "SOMETHING_NEW")
    assert "3 answers in a row" in event["message"]


def test_an_operator_that_cannot_be_imported_is_an_error(trigger_cls: Any) -> None:
    event = first_event(trigger_cls(operator="nowhere.at_all:Operator", state={},
                                    external_id=1))
    assert event["outcome"] == "error" and "ModuleNotFoundError" in event["message"]
    event = first_event(trigger_cls(operator="resumable._polling:PollStep", state={},
                                    external_id=1))
    assert event["outcome"] == "error" and "not a ResumableJobMixin" in event["message"]


@pytest.mark.parametrize("cancel_on_kill", [False, True])
def test_on_kill_cancels_only_with_cancel_on_kill(trigger_cls: Any, server: JobServer,
                                                  cancel_on_kill: bool) -> None:
    op = operator(server, duration_seconds=60)
    op.cancel_on_kill = cancel_on_kill
    token = f"trig-kill-{cancel_on_kill}"
    run_id = submit(op, token)
    asyncio.run(asyncio.wait_for(build(trigger_cls, op, run_id).on_kill(), BOUND))
    [run] = [s for s in server.submissions() if s["idempotency_token"] == token]
    assert run["state"].get("result_state") == ("CANCELED" if cancel_on_kill else None)

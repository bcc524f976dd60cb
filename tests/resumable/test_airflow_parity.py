"""Airflow 3.3.2's own test cases for its ``ResumableJobMixin``, re-expressed for ours.

Each case of Airflow's suite (first submission, retries by status, a None ID, durable off,
a custom key, metrics, the decision span, log lines) is restated here in our words, on
an operator built the way a user switching would build it: only the import changes.
The store is a fake with nothing but ``get(key)`` and ``set(key, value)``, as Airflow's
and users' tests write it. Where we differ on purpose the case is replaced by a test of
the documented difference (named ``test_difference_...``):

- a job found running on retry returns ``get_job_result`` (Airflow returns what
  ``poll_until_complete`` returned);
- a None ID leaves no ID, but on a store without ``delete`` the intent and claim keys we
  wrote before submitting are left holding null (a store with ``delete`` is left empty).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar
from unittest import mock

import pytest

from resumable import ResumableJobMixin

STATS_INCR = "airflow.sdk._shared.observability.metrics.stats.incr"


@pytest.fixture(scope="module")
def sdk(airflow_sdk: Any) -> Any:
    return airflow_sdk


class GetSetOnly:
    """The smallest task store: get and set, nothing else."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(stored or {})

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value


@pytest.fixture(scope="module")
def Op(sdk: Any) -> type:
    class RecordingOperator(ResumableJobMixin, sdk.BaseOperator):  # type: ignore[misc]
        """Submits ``next_id``; statuses come from ``statuses``; records every call."""

        external_id_key = "test_job_id"
        poll_interval = 0.0

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.submitted: list[str] = []
            self.polled: list[str] = []
            self.next_id = "job-001"
            self.statuses: dict[str, str] = {}

        def submit_job(self, context: Any) -> Any:
            self.submitted.append(self.next_id)
            return self.next_id

        def get_job_status(self, external_id: Any, context: Any) -> str:
            return self.statuses.get(str(external_id), "UNKNOWN")

        def is_job_active(self, status: str) -> bool:
            return status in ("RUNNING", "PENDING")

        def is_job_succeeded(self, status: str) -> bool:
            return status == "SUCCEEDED"

        def poll_until_complete(self, external_id: Any, context: Any) -> None:
            self.polled.append(str(external_id))

        def get_job_result(self, external_id: Any, context: Any) -> str:
            return f"result-of-{external_id}"

    return RecordingOperator


def run(op: Any, store: Any | None) -> Any:
    return op.execute_resumable({} if store is None else {"task_state_store": store})


def stored_op(Op: type, status: str) -> tuple[Any, GetSetOnly]:
    op = Op(task_id="t")
    op.statuses["job-001"] = status
    return op, GetSetOnly({"test_job_id": "job-001"})


# -- first submission ----------------------------------------------------------------

def test_nothing_stored_submits_once_and_polls_it(Op: type) -> None:
    op = Op(task_id="t")
    run(op, GetSetOnly())
    assert (op.submitted, op.polled) == (["job-001"], ["job-001"])


def test_the_id_is_stored_before_polling_starts(Op: type) -> None:
    op, store = Op(task_id="t"), GetSetOnly()
    seen: list[Any] = []
    op.poll_until_complete = lambda external_id, context: seen.append(store.get("test_job_id"))
    run(op, store)
    assert seen == ["job-001"]


def test_the_result_is_get_job_result(Op: type) -> None:
    assert run(Op(task_id="t"), GetSetOnly()) == "result-of-job-001"


# -- a retry, by the stored job's status ---------------------------------------------------

@pytest.mark.parametrize("status", ["RUNNING", "PENDING"])
def test_an_active_job_is_reconnected_not_resubmitted(Op: type, status: str) -> None:
    op, store = stored_op(Op, status)
    run(op, store)
    assert (op.submitted, op.polled) == ([], ["job-001"])


def test_difference_a_reconnected_job_returns_its_result(Op: type) -> None:
    op, store = stored_op(Op, "RUNNING")
    assert run(op, store) == "result-of-job-001"  # Airflow: poll_until_complete's None


def test_a_succeeded_job_returns_its_result_without_polling(Op: type) -> None:
    op, store = stored_op(Op, "SUCCEEDED")
    assert run(op, store) == "result-of-job-001"
    assert (op.submitted, op.polled) == ([], [])


@pytest.mark.parametrize("status", ["FAILED", "KILLED", "ERROR", "UNKNOWN"])
def test_a_failed_job_is_resubmitted(Op: type, status: str) -> None:
    op, store = stored_op(Op, status)
    op.next_id = "job-002"
    run(op, store)
    assert (op.submitted, op.polled) == (["job-002"], ["job-002"])
    assert store.data["test_job_id"] == "job-002"


# -- a None ID ------------------------------------------------------------------------------

def test_difference_a_none_id_stores_no_id(Op: type) -> None:
    class NoId(Op):  # type: ignore[valid-type,misc]
        def submit_job(self, context: Any) -> Any:
            return None

        def get_job_result(self, external_id: Any, context: Any) -> str:
            return "done"

    op, store = NoId(task_id="t"), GetSetOnly()
    assert run(op, store) == "done" and op.polled == ["None"]
    assert "test_job_id" not in store.data
    assert all(value is None for value in store.data.values())  # no delete: nulled


# -- durable off (Airflow 3.3.2's ``durable``) ----------------------------------------------

def test_not_durable_submits_and_polls_and_writes_nothing(Op: type) -> None:
    op, store = Op(task_id="t", durable=False), GetSetOnly()
    assert run(op, store) == "result-of-job-001"
    assert (op.submitted, op.polled, store.data) == (["job-001"], ["job-001"], {})


def test_not_durable_ignores_a_stored_id(Op: type) -> None:
    op, store = stored_op(Op, "RUNNING")
    op.durable = False
    run(op, store)
    assert op.submitted == ["job-001"]


def test_durable_is_the_default(Op: type) -> None:
    assert Op(task_id="t").durable is True


def test_a_custom_key_is_where_the_id_goes(Op: type) -> None:
    class CustomKey(Op):  # type: ignore[valid-type,misc]
        external_id_key = "my_custom_key"

    store = GetSetOnly()
    run(CustomKey(task_id="t"), store)
    assert store.get("my_custom_key") == "job-001"


def test_a_missing_hook_fails_at_instantiation(sdk: Any) -> None:
    class Incomplete(ResumableJobMixin, sdk.BaseOperator):  # type: ignore[misc]
        def submit_job(self, context: Any) -> Any:
            return 1

    with pytest.raises(TypeError, match="get_job_status, is_job_active"):
        Incomplete(task_id="t")


# -- metrics -----------------------------------------------------------------------------------

def counted(op: Any, store: Any) -> mock.MagicMock:
    with mock.patch(STATS_INCR) as incr:
        run(op, store)
    return incr


def names(incr: mock.MagicMock) -> list[str]:
    return [call.args[0] for call in incr.call_args_list]


def test_a_fresh_submit_counts_only_fresh_submit(Op: type) -> None:
    incr = counted(Op(task_id="t"), GetSetOnly())
    incr.assert_called_once_with("resumable_job.fresh_submit",
                                 tags={"operator": "RecordingOperator"})


@pytest.mark.parametrize(("status", "expected", "absent"), [
    ("RUNNING", ["resumable_job.reconnect_attempt", "resumable_job.reconnect_success"],
     ["resumable_job.fresh_submit"]),
    ("SUCCEEDED", ["resumable_job.reconnect_attempt", "resumable_job.already_succeeded"],
     ["resumable_job.reconnect_success", "resumable_job.fresh_submit"]),
    ("FAILED", ["resumable_job.reconnect_attempt", "resumable_job.terminal_resubmit"],
     ["resumable_job.reconnect_success", "resumable_job.fresh_submit"]),
])
def test_a_stored_job_counts_the_attempt_and_its_outcome(
        Op: type, status: str, expected: list[str], absent: list[str]) -> None:
    op, store = stored_op(Op, status)
    got = names(counted(op, store))
    assert got == expected and not set(absent) & set(got)


def test_team_name_is_a_tag_in_multi_team_deployments(Op: type) -> None:
    class TI:
        dag_id, run_id, task_id, map_index = "d", "r", "t", -1
        stats_tags: ClassVar[dict[str, str]] = {"team_name": "blue"}

    with mock.patch(STATS_INCR) as incr:
        Op(task_id="t").execute_resumable({"task_state_store": GetSetOnly(), "ti": TI()})
    incr.assert_called_once_with("resumable_job.fresh_submit",
                                 tags={"operator": "RecordingOperator", "team_name": "blue"})


# -- the decision span ----------------------------------------------------------------------

@pytest.fixture
def spans() -> Iterator[Any]:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with mock.patch("resumable._observe._tracer", lambda: provider.get_tracer("test")):
        yield exporter


def decision_span(exporter: Any) -> Any:
    [span] = [s for s in exporter.get_finished_spans()
              if s.name == "resumable_job.resume_decision"]
    return span.attributes


def test_a_fresh_submit_span(Op: type, spans: Any) -> None:
    run(Op(task_id="t"), GetSetOnly())
    attributes = decision_span(spans)
    assert attributes["resumable.decision"] == "fresh_submit"
    assert attributes["operator"] == "RecordingOperator"
    assert attributes["resumable.external_id_key"] == "test_job_id"
    assert "resumable.external_id" not in attributes


@pytest.mark.parametrize(("status", "decision"), [
    ("RUNNING", "reconnect"), ("SUCCEEDED", "already_succeeded"),
    ("FAILED", "terminal_resubmit")])
def test_a_stored_job_span(Op: type, spans: Any, status: str,
                           decision: str) -> None:
    op, store = stored_op(Op, status)
    run(op, store)
    attributes = decision_span(spans)
    assert attributes["resumable.decision"] == decision
    assert attributes["resumable.external_id"] == "job-001"
    assert attributes["resumable.prior_status"] == status


def test_no_store_span(Op: type, spans: Any) -> None:
    run(Op(task_id="t"), None)
    assert decision_span(spans)["resumable.decision"] == "no_task_state_store"


# -- log lines through the operator's own logger -------------------------------------------

def captured(op: Any, store: Any) -> list[dict[str, Any]]:
    import structlog.testing

    with structlog.testing.capture_logs() as logs:
        run(op, store)
    return logs


def test_no_store_warns_that_crash_recovery_is_disabled(Op: type) -> None:
    logs = captured(Op(task_id="t"), None)
    assert any(e["log_level"] == "warning" and "crash recovery is disabled" in e["event"]
               for e in logs)


@pytest.mark.parametrize(("status", "fragment", "level", "fields"), [
    ("RUNNING", "Reconnecting", "info", {"external_id_key": "test_job_id",
                                         "status": "RUNNING"}),
    ("SUCCEEDED", "already completed", "info", {"external_id_key": "test_job_id"}),
    ("FAILED", "terminal state", "warning", {"status": "FAILED"}),
])
def test_a_stored_job_logs_airflows_line(Op: type, status: str, fragment: str,
                                         level: str, fields: dict[str, Any]) -> None:
    op, store = stored_op(Op, status)
    [entry] = [e for e in captured(op, store) if fragment in e["event"]]
    assert entry["log_level"] == level and entry["external_id"] == "job-001"
    assert {k: entry[k] for k in fields} == fields

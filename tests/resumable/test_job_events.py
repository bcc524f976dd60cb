"""The event table: which metric, span decision and log line each resume decision is."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from resumable import set_metrics_hook
from resumable._job_decision import Action, Decision, StatusKind
from resumable._job_events import EVENTS, event_for
from resumable._observe import JobObserver
from store_client import TaskStore
from tests.resumable.fake_jobs import KEY, FakeJobs, FakeOperator, ctx

AIRFLOWS = {"fresh_submit", "reconnect_attempt", "reconnect_success", "already_succeeded",
            "terminal_resubmit"}


def d(action: Action) -> Decision:
    return Decision(action, 0, "why")


@pytest.mark.parametrize(("previous", "action", "status", "event"), [
    (None, Action.SUBMIT, None, "fresh_submit"),
    (Action.LOOK_UP, Action.SUBMIT, StatusKind.NOT_FOUND, "intent_submit"),
    (Action.AWAIT, Action.SUBMIT, None, "fresh_submit"),
    (None, Action.LOOK_UP, None, "intent_found"),
    (None, Action.QUERY, None, "reconnect_attempt"),
    (Action.QUERY, Action.WAIT, StatusKind.ACTIVE, "reconnect_success"),
    (Action.SUBMIT, Action.WAIT, StatusKind.ACTIVE, None),          # our own job: routine
    (Action.RESUBMIT, Action.WAIT, StatusKind.ACTIVE, None),
    (Action.QUERY, Action.FINISH, StatusKind.SUCCEEDED, "already_succeeded"),
    (Action.WAIT, Action.FINISH, StatusKind.SUCCEEDED, None),       # waited for it: routine
    (Action.REQUERY, Action.FINISH, StatusKind.SUCCEEDED, "already_succeeded"),
    (Action.QUERY, Action.RESUBMIT, StatusKind.FAILED, "terminal_resubmit"),
    (Action.QUERY, Action.RESUBMIT, StatusKind.NOT_FOUND, "vanished"),
    (Action.WAIT, Action.RESUBMIT, StatusKind.NOT_FOUND, "vanished"),
    (Action.QUERY, Action.RESUBMIT, StatusKind.REPLACED, "replaced"),
    (None, Action.RESUBMIT, None, "clear_resubmit"),
    (Action.QUERY, Action.RECHECK, StatusKind.UNKNOWN, "unknown_status"),
    (Action.QUERY, Action.REQUERY, StatusKind.NOT_FOUND, "not_visible_yet"),
    (None, Action.AWAIT, StatusKind.CLAIMED, "await_other_try"),
])
def test_the_event_table(previous: Action | None, action: Action,
                         status: StatusKind | None, event: str | None) -> None:
    assert event_for(previous, d(action), status) == event


def test_airflows_events_keep_airflows_names_and_every_event_is_well_formed() -> None:
    assert {name for name, e in EVENTS.items() if e.counted} >= AIRFLOWS
    assert EVENTS["reconnect_success"].decision == "reconnect"
    for name, event in EVENTS.items():
        assert event.name == name and event.metric == f"resumable_job.{name}"
        assert set(event.fields) <= {"external_id_key", "external_id", "status", "token"}


def test_outside_airflow_counters_go_to_the_hook_and_logs_to_resumable_jobs(
        store: TaskStore, caplog: pytest.LogCaptureFixture) -> None:
    got: list[tuple[str, dict[str, str]]] = []
    set_metrics_hook(lambda name, tags: got.append((name, dict(tags))))
    try:
        jobs = FakeJobs(script=["RUNNING", "SUCCESS"])
        with caplog.at_level(logging.INFO, "resumable.jobs"):
            FakeOperator(jobs).execute(ctx(store))
            FakeOperator(jobs).execute(ctx(store))
    finally:
        set_metrics_hook(None)
    assert [name for name, _ in got] == [
        "resumable_job.fresh_submit", "resumable_job.reconnect_attempt",
        "resumable_job.already_succeeded"]
    assert got[0][1] == {"operator": "FakeOperator"}
    assert f"Job already completed successfully, skipping resubmission (external_id_key={KEY!r}" \
        in caplog.text
    record = next(r for r in caplog.records if "already completed" in r.getMessage())
    assert record.resumable == {"external_id_key": KEY, "external_id": 100}  # type: ignore[attr-defined]


def test_a_failing_metrics_hook_never_fails_the_task(
        store: TaskStore, caplog: pytest.LogCaptureFixture) -> None:
    def broken(name: str, tags: Any) -> None:
        raise RuntimeError("statsd down")

    set_metrics_hook(broken)
    try:
        assert FakeOperator(FakeJobs()).execute(ctx(store)) == {"job": 100}
    finally:
        set_metrics_hook(None)
    assert "metric resumable_job.fresh_submit not sent: RuntimeError: statsd down" in caplog.text


def test_a_metrics_hook_must_be_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        set_metrics_hook(3)  # type: ignore[arg-type]


def test_the_observer_closes_its_span_once() -> None:
    observer = JobObserver(FakeOperator(FakeJobs()), {})
    observer.close()
    observer.close()

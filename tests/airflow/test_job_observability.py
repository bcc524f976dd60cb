"""The job mixin's metrics, trace span and log lines, as real Airflow carries them.

``resumable_databricks`` runs in ``dag.test()`` against the job server (a real HTTP
process); try 1 dies while polling, after the run ID was stored
(:func:`~tests.support.airflow_env.fail_first_try`, ``retries=1``, no delay), and try 2
reattaches. Around the run, in the child process, a setup

- records every call of Airflow's stats module's ``incr`` (name, tags, and the try it
  came from; the call still goes on to Airflow's backend), the function the mixin looks
  up at call time;
- installs a global OpenTelemetry ``TracerProvider`` exporting to memory, which the
  mixin's ``trace.get_tracer("resumable.jobs")`` picks up at each try;
- records what ``get_job_status`` answered on try 2 (the status the retry reattached on).

The log lines are read from what the child wrote: ``dag.test()`` runs each try in
process and sends the task's log to the child's output (``run-N.log`` in the Airflow
home), not to per-try files under ``logs/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from examples.databricks import DatabricksSubmitRunOperator
from resumable import ResumableJobMixin
from resumable.demo import JobServer
from tests.support import require_or_skip
from tests.support.airflow_env import (
    AirflowHome,
    DagRunResult,
    RunSpec,
    fail_first_try,
    running_try,
)

DAG_ID, TASK_ID = "resumable_databricks", "nightly_run"
KEY = DatabricksSubmitRunOperator.external_id_key
OPERATOR = "DatabricksRun"  # the DAG's operator class (examples.dags._common)
SPAN = "resumable_job.resume_decision"
STATS_MODULE = "airflow.sdk._shared.observability.metrics.stats"
Report = Callable[[], Any]


def _try_number() -> int | None:
    try:
        return running_try().try_number
    except Exception:  # outside a task (Airflow's own metrics between tries)
        return None


# -- the setup: entered inside the child process around the dag.test() ------------------

@contextlib.contextmanager
def observed_crash_while_polling() -> Iterator[Report]:
    """Record stats ``incr`` calls and spans; try 1 dies in ``poll_until_complete``."""
    import importlib

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    stats = importlib.import_module(STATS_MODULE)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    metrics: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    original_incr = stats.incr
    original_status = DatabricksSubmitRunOperator.get_job_status

    def incr(stat: str, *args: Any, **kwargs: Any) -> Any:
        metrics.append({"name": stat, "tags": kwargs.get("tags"), "try": _try_number()})
        return original_incr(stat, *args, **kwargs)

    def get_job_status(self: Any, external_id: Any, context: Any) -> Any:
        status = original_status(self, external_id, context)
        statuses.append({"try": _try_number(), "operator": type(self).__name__,
                         "external_id": external_id, "status": status})
        return status

    def report() -> dict[str, Any]:
        spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
        return {"crashes": crashes, "metrics": metrics, "statuses": statuses,
                "provider_installed": trace.get_tracer_provider() is provider,
                "spans": [{"name": s.name, "attributes": dict(s.attributes or {}),
                           "scope": s.instrumentation_scope.name
                           if s.instrumentation_scope else None} for s in spans]}

    with mock.patch.object(stats, "incr", incr), \
            mock.patch.object(DatabricksSubmitRunOperator, "get_job_status", get_job_status), \
            fail_first_try(ResumableJobMixin, "poll_until_complete") as crashes:
        yield report


# -- fixtures ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ObservedRun:
    result: DagRunResult
    report: dict[str, Any]
    log: str  # what the child process wrote: Airflow's task log under dag.test()
    run_id: Any  # the Databricks run ID in Airflow's task_state_store


@pytest.fixture(scope="module")
def observed(airflow_home: AirflowHome, job_server: JobServer) -> ObservedRun:
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        require_or_skip("the span test needs opentelemetry-sdk (pip install opentelemetry-sdk)")
    env = {"RESUMABLE_EXAMPLE_DATABRICKS_HOST": job_server.url,
           "RESUMABLE_EXAMPLE_POLL_INTERVAL": "0.1"}
    before = set(airflow_home.path.glob("run-*.log"))
    [result] = airflow_home.run(
        RunSpec(DAG_ID, datetime(2026, 3, 1, tzinfo=timezone.utc),
                setup=f"{__name__}:observed_crash_while_polling"), env=env)
    [log] = set(airflow_home.path.glob("run-*.log")) - before
    rows = {r.key: r for r in airflow_home.db.task_state(DAG_ID, result.run_id)}
    return ObservedRun(result, result.report, Path(log).read_text(errors="replace"),
                       rows[KEY].value)


# -- tests ------------------------------------------------------------------------------

def test_the_retry_reattached_after_the_crash(airflow_home: AirflowHome,
                                              observed: ObservedRun) -> None:
    assert observed.result.state == "success"
    assert observed.report["crashes"] == [f"{TASK_ID}[-1] try 1: poll_until_complete"]
    [ti] = airflow_home.db.task_tries(DAG_ID, observed.result.run_id).values()
    assert (ti.state, ti.try_number) == ("success", 2)
    first = observed.report["statuses"][0]  # the retry's first question: the stored run
    assert (first["try"], first["operator"], first["external_id"]) == (2, OPERATOR,
                                                                       observed.run_id)


def test_counters_reach_airflows_stats_module(observed: ObservedRun) -> None:
    ours = [(m["try"], m["name"], m["tags"]) for m in observed.report["metrics"]
            if m["name"].startswith("resumable_job.")]
    tags = {"operator": OPERATOR}
    assert ours == [(1, "resumable_job.fresh_submit", tags),
                    (2, "resumable_job.reconnect_attempt", tags),
                    (2, "resumable_job.reconnect_success", tags)]


def test_one_resume_decision_span_per_try(observed: ObservedRun) -> None:
    assert observed.report["provider_installed"]
    spans = [s for s in observed.report["spans"] if s["name"] == SPAN]
    assert [s["scope"] for s in spans] == ["resumable.jobs", "resumable.jobs"]
    fresh, reconnect = (s["attributes"] for s in spans)
    assert fresh == {"operator": OPERATOR, "resumable.external_id_key": KEY,
                     "resumable.decision": "fresh_submit"}
    status = observed.report["statuses"][0]["status"]
    assert isinstance(status, str) and status in ("PENDING", "RUNNING")
    reconnect = dict(reconnect)
    # its type: test_the_span_external_id_is_a_string_as_airflow_sets_it
    assert str(reconnect.pop("resumable.external_id")) == str(observed.run_id)
    assert reconnect == {"operator": OPERATOR, "resumable.external_id_key": KEY,
                         "resumable.prior_status": status,
                         "resumable.decision": "reconnect"}


def test_the_span_external_id_is_a_string_as_airflow_sets_it(observed: ObservedRun) -> None:
    [reconnect] = [s["attributes"] for s in observed.report["spans"]
                   if s["name"] == SPAN and "resumable.external_id" in s["attributes"]]
    assert reconnect["resumable.external_id"] == str(observed.run_id)


def test_the_task_log_says_it_reconnected(observed: ObservedRun) -> None:
    lines = [line for line in observed.log.splitlines()
             if "Reconnecting to existing job" in line]
    assert len(lines) == 1, lines
    [line] = lines
    assert f"[airflow.task.operators.examples.dags._common.{OPERATOR}]" in line  # self.log
    assert re.search(rf"\bexternal_id={observed.run_id}\b", line), line
    assert f"external_id_key={KEY}" in line
    assert f"status={observed.report['statuses'][0]['status']}" in line

"""Metrics, a trace span and log lines for the job mixin's decisions, as Airflow emits them.

How it works: a :class:`JobObserver` follows one try of one operator. Each decision is
named by the pure :func:`resumable._job_events.event_for`; the observer then

- counts it: ``resumable_job.<event>`` with tags ``operator`` (the class name) and, in
  multi-team deployments, ``team_name`` (``context["ti"].stats_tags``). Inside Airflow
  (its task SDK already imported) through Airflow's own stats module, so the counters
  reach whatever statsd/OpenTelemetry backend Airflow is configured with; anywhere, also
  to the hook given to :func:`set_metrics_hook` (route to statsd, OpenTelemetry or
  ``prometheus_client`` from there);
- traces it: when ``opentelemetry`` is importable, a span ``resumable_job.resume_decision``
  from the start of a try until it decides to submit, wait, finish or wait for another
  try, with Airflow's attributes (``operator``, ``resumable.external_id_key``,
  ``resumable.external_id``, ``resumable.prior_status``, ``resumable.decision``);
- logs it: through the operator's ``self.log`` when it has one (Airflow's operators: a
  structlog logger, given the message and the fields as keywords), otherwise through the
  ``resumable.jobs`` logger (the fields appended to the message, and in ``extra`` under
  ``"resumable"``).

What it does not do: import Airflow or OpenTelemetry when they are not already there or
installed, or let a failing metrics hook or backend fail the task (logged, then ignored).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

from resumable._job_decision import Action, Decision, StatusKind
from resumable._job_events import EVENTS, event_for
from resumable._job_record import JobRecord

__all__ = ["JobObserver", "set_metrics_hook"]

SPAN_NAME = "resumable_job.resume_decision"
MetricsHook = Callable[[str, Mapping[str, str]], None]

_log = logging.getLogger("resumable.jobs")
_metrics_hook: MetricsHook | None = None
#: The actions that end the resume decision (and its span).
_DECIDED = (Action.SUBMIT, Action.RESUBMIT, Action.WAIT, Action.FINISH, Action.AWAIT)


def set_metrics_hook(hook: MetricsHook | None) -> None:
    """Send every ``resumable_job.*`` counter to ``hook(name, tags)`` too (None: stop).

    For example ``set_metrics_hook(lambda name, tags: statsd.incr(name, tags=tags))``.
    Inside Airflow the counters also go to Airflow's own stats backend.
    """
    global _metrics_hook
    if hook is not None and not callable(hook):
        raise TypeError(f"the metrics hook must be callable, got {hook!r:.60}")
    _metrics_hook = hook


def _airflow_stats() -> Any:
    """Airflow's stats module, only when Airflow's task SDK is already imported."""
    if "airflow.sdk" not in sys.modules:
        return None
    try:
        return importlib.import_module("airflow.sdk._shared.observability.metrics.stats")
    except ImportError:
        return None


def _tracer() -> Any:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("resumable.jobs")


def _attribute(value: Any) -> str | int | float | bool:
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def _tags(op: object, context: Any) -> dict[str, str]:
    tags = {"operator": type(op).__name__}
    ti = context.get("ti") if isinstance(context, Mapping) else None
    team = getattr(ti, "stats_tags", {}).get("team_name") if ti is not None else None
    if team:
        tags["team_name"] = str(team)
    return tags


class JobObserver:
    """Metrics, span and logs of one try of one operator (see the module docstring)."""

    def __init__(self, op: Any, context: Any) -> None:
        self._op = op
        self._key: str = op.external_id_key
        self._tags = _tags(op, context)
        self._previous: Action | None = None
        self._status: Any = None
        self._span: Any = None
        self._span_done = False  # the span is opened at the first decision, once

    def _open_span(self) -> None:
        if self._span is None and not self._span_done:
            self._span_done = True
            tracer = _tracer()
            if tracer is not None:
                self._span = tracer.start_span(SPAN_NAME, attributes={
                    "operator": type(self._op).__name__,
                    "resumable.external_id_key": self._key})

    # -- what happened -------------------------------------------------------------

    def decided(self, decision: Decision, status: StatusKind | None,
                record: JobRecord | None) -> None:
        """Name, count, trace and log ``decision`` (a routine one only at DEBUG)."""
        self._open_span()
        name = event_for(self._previous, decision, status)
        self._previous = decision.action
        external_id = record.external_id if record is not None and record.has_id else None
        if external_id is not None:  # as text, as Airflow sets it
            self._set("resumable.external_id", str(external_id))
        if name is None:
            self._write(logging.DEBUG, decision.reason, {"external_id_key": self._key})
        else:
            self.emit(name, external_id=external_id,
                      token=record.token if record is not None else None)
        if decision.action in _DECIDED:
            self.close()

    def status_seen(self, status: Any) -> None:
        """A status answer about the stored job (the span's ``resumable.prior_status``)."""
        self._status = status
        self._set("resumable.prior_status", status)

    def emit(self, name: str, *, external_id: Any = None, token: Any = None) -> None:
        """Count, trace and log event ``name`` (one of ``_job_events.EVENTS``)."""
        event = EVENTS[name]
        if event.decision is not None:
            self._open_span()
        if event.counted:
            self._count(event.metric)
        if event.decision is not None:
            self._set("resumable.decision", event.decision)
        values = {"external_id_key": self._key, "external_id": external_id,
                  "status": self._status, "token": token}
        self._write(event.level, event.message, {f: values[f] for f in event.fields})

    def close(self) -> None:
        """End the decision span (once); later calls do nothing."""
        self._span_done = True
        span, self._span = self._span, None
        if span is not None:
            span.end()

    # -- where it goes -------------------------------------------------------------

    def _set(self, attribute: str, value: Any) -> None:
        if self._span is not None and value is not None:
            self._span.set_attribute(attribute, _attribute(value))

    def _count(self, metric: str) -> None:
        incr = getattr(_airflow_stats(), "incr", None)
        sinks: list[MetricsHook] = [] if incr is None else [
            lambda name, tags: incr(name, tags=dict(tags))]
        if _metrics_hook is not None:
            sinks.append(_metrics_hook)
        for sink in sinks:
            try:
                sink(metric, dict(self._tags))
            except Exception as exc:  # a metrics backend never fails the task
                _log.warning("metric %s not sent: %s: %s", metric, type(exc).__name__, exc)

    def _write(self, level: int, message: str, fields: dict[str, Any]) -> None:
        log = getattr(self._op, "log", None)
        method = getattr(log, logging.getLevelName(level).lower(), None)
        if method is None or isinstance(log, (logging.Logger, logging.LoggerAdapter)):
            target = log if isinstance(log, (logging.Logger, logging.LoggerAdapter)) else _log
            detail = ", ".join(f"{k}={v!r}" for k, v in fields.items())
            target.log(level, "%s (%s)" if detail else "%s%s", message, detail,
                       extra={"resumable": fields})
        else:
            method(message, **fields)

"""``deferrable=True``: take the resume decision, submit if needed, let a trigger wait.

How it works, on the worker (the mixin's ``execute`` and ``execute_complete`` call these):

- :func:`execute_deferrable` takes the same decision as the blocking path
  (``get_resume_decision``). ``SUBMIT``: ``submit_job``, then ``persist_job_id``;
  ``RECONNECT``: nothing to submit; ``ALREADY_SUCCEEDED``: finish at once. Then it calls
  ``self.defer(trigger=ResumableJobTrigger(...), method_name="execute_complete",
  timeout=poll_timeout)``, freeing the worker slot. The trigger (``_trigger``) knows the
  operator's import path, its :meth:`trigger_state`, the job ID and generation, and a
  wall-clock deadline (now + ``poll_timeout``) that a triggerer restart does not move.
- :func:`complete_deferred` runs when the trigger's one event comes back. It reads the
  stored record first: an event about another job ID or generation than the one stored
  is stale and goes back through the decision (it never finishes or fails a job on an
  old event). Otherwise, by the event's ``outcome``: ``succeeded`` finishes
  (``get_job_result``; ``on_job_finished`` unless the record's phase is already
  ``finished``; the phase becomes ``finished``); ``failed`` stores phase ``failed`` and
  raises ``JobFailedError``; ``not_found`` resubmits through the decision (at most
  ``max_resubmits`` times, counted in the defer's ``kwargs``); ``unknown``, ``timeout``
  and ``error`` raise ``JobStatusUnknownError``, ``JobTimeoutError`` and ``JobHookError``
  (hook ``aget_job_status``), as the blocking path would. The result is returned on
  every path, so Airflow pushes it to XCom.

Before anything is read or submitted, ``execute_deferrable`` checks that the operator
can defer (it has Airflow's ``defer``), that its class can be imported back by its path
(:func:`operator_path`: not a class defined in a DAG file, a function or ``__main__``),
and that ``trigger_state()`` is a JSON object; each problem is a
``JobConfigurationError`` naming ``deferrable``.

What it does not do: poll (the trigger does), import Airflow (``_trigger`` is imported
only when deferring), or check events when ``durable=False`` (nothing is stored to
check them against; they are taken as they come).
Limits: ``dag.test()`` drops the defer's ``kwargs`` when it resumes a task, so there the
``not_found`` resubmissions are not counted across resumptions.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from resumable._context import TaskStoreLike, task_store_from_context
from resumable._errors import (
    JobConfigurationError,
    JobFailedError,
    JobHookError,
    JobStatusUnknownError,
    JobTimeoutError,
    TooManyResubmitsError,
)
from resumable._job_knobs import check_knobs, knob_values
from resumable._job_record import JobRecord, meta_key
from resumable._resume_api import ResumeAction

if TYPE_CHECKING:
    from resumable._job_mixin import ResumableJobMixin

__all__ = ["COMPLETE_METHOD", "OUTCOMES", "complete_deferred", "execute_deferrable",
           "load_operator_class", "operator_path"]

_log = logging.getLogger("resumable.jobs")

#: The method Airflow calls with the trigger's event.
COMPLETE_METHOD: Final = "execute_complete"
#: The ``outcome`` values of the trigger's event.
OUTCOMES: Final = frozenset({"succeeded", "failed", "not_found", "unknown", "timeout",
                             "error"})
_DAG_FILE_PREFIX: Final = "unusual_prefix_"  # how Airflow names the modules of DAG files


def _config_error(message: str) -> JobConfigurationError:
    return JobConfigurationError(f"deferrable=True: {message}", knob="deferrable", value=True)


def operator_path(cls: type) -> str:
    """``"module:QualName"`` of an operator class the triggerer can import back."""
    module, qualname = cls.__module__, cls.__qualname__
    if "<locals>" in qualname or module == "__main__" or module.startswith(_DAG_FILE_PREFIX):
        raise _config_error(
            f"the triggerer rebuilds {qualname} by importing it, and {module}.{qualname} "
            "cannot be imported there; define the operator class in a module on the "
            "Python path (not in a DAG file, a function or __main__)")
    path = f"{module}:{qualname}"
    try:
        found = load_operator_class(path)
    except (ImportError, AttributeError, TypeError) as exc:
        raise _config_error(f"{path} cannot be imported back: {exc}") from exc
    if found is not cls:
        raise _config_error(f"{path} imports as {found!r}, not {cls!r}")
    return path


def load_operator_class(path: str) -> type[ResumableJobMixin]:
    """The class at ``"module:QualName"`` (``TypeError`` if it is not a resumable operator)."""
    from resumable._job_mixin import ResumableJobMixin

    module, _, qualname = path.partition(":")
    found: Any = importlib.import_module(module)
    for name in qualname.split("."):
        found = getattr(found, name)
    if not (isinstance(found, type) and issubclass(found, ResumableJobMixin)):
        raise TypeError(f"{path} is not a ResumableJobMixin subclass: {found!r}")
    return found


def _checked_state(job: ResumableJobMixin) -> dict[str, Any]:
    state = job.trigger_state()
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise _config_error(f"trigger_state() must return a dict with str keys, got {state!r:.80}")
    try:
        json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _config_error(f"trigger_state() must be JSON-serialisable: {exc}") from exc
    return state


def _load(job: ResumableJobMixin, store: TaskStoreLike) -> JobRecord | None:
    return JobRecord.load(store.get(job.external_id_key),
                          store.get(meta_key(job.external_id_key)))


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def execute_deferrable(job: ResumableJobMixin, context: Any, *, resubmits: int = 0) -> Any:
    """Decide; submit if told to; finish now, or defer to a trigger (see the module doc)."""
    defer = getattr(job, "defer", None)
    if not callable(defer):
        raise _config_error(f"{type(job).__name__} has no defer(): deferring needs an "
                            "Airflow operator (mix the class into BaseOperator)")
    path = operator_path(type(job))
    state = _checked_state(job)
    decision = job.get_resume_decision(context)  # checks the knobs, writes any intent
    if decision.action is ResumeAction.ALREADY_SUCCEEDED:
        store = task_store_from_context(context, job.store)
        return _finish(job, store, _load(job, store), decision.external_id, None, context)
    if decision.action is ResumeAction.SUBMIT:
        external_id = job.persist_job_id(context, job.submit_job(context))
    else:
        external_id = decision.external_id
    generation = None
    if job.durable:
        record = _load(job, task_store_from_context(context, job.store))
        generation = None if record is None else record.generation
    timeout = job.poll_timeout
    from resumable._trigger import ResumableJobTrigger  # Airflow is needed from here on

    trigger = ResumableJobTrigger(
        operator=path, state=state, external_id=external_id, generation=generation,
        deadline=None if timeout is None else time.time() + timeout)
    _log.info("deferring: the triggerer watches job %r (generation %s)", external_id,
              generation)
    defer(trigger=trigger, method_name=COMPLETE_METHOD,
          kwargs={"resubmits": resubmits} if resubmits else None,
          timeout=None if timeout is None else timedelta(seconds=timeout))
    raise RuntimeError(f"{type(job).__name__}.defer() returned instead of raising "
                       "TaskDeferred")


def _finish(job: ResumableJobMixin, store: TaskStoreLike | None, record: JobRecord | None,
            external_id: Any, status: Any, context: Any) -> Any:
    """The result; ``on_job_finished`` once (the record's phase ``finished`` tells)."""
    job._resumable_external_id = external_id
    result = job.get_job_result(external_id, context)
    if record is not None and record.finished:
        return result
    job.on_job_finished(external_id, result, context)
    if store is not None and record is not None:
        changes: dict[str, Any] = {"phase": "finished"}
        if _is_json_scalar(status) and status is not None:
            changes["status"] = status
        job._save(store, record.evolve(**changes))
    return result


def _parse_event(event: Any) -> dict[str, Any] | None:
    """The event as a dict if it has the trigger's shape, else None."""
    if not isinstance(event, Mapping) or event.get("outcome") not in OUTCOMES:
        return None
    generation = event.get("generation")
    if "external_id" not in event or not (generation is None or type(generation) is int):
        return None
    return {"external_id": event["external_id"], "generation": generation,
            "status": event.get("status"), "outcome": event["outcome"],
            "message": str(event.get("message") or "")}


def complete_deferred(job: ResumableJobMixin, context: Any, event: Any, *,
                      resubmits: int = 0) -> Any:
    """Act on the trigger's event once it is checked against the stored record."""
    check_knobs(knob_values(job))
    job._resumable_context = context
    payload = _parse_event(event)
    if payload is None:
        _log.warning("not a ResumableJobTrigger event: %r; deciding again", event)
        return execute_deferrable(job, context, resubmits=resubmits)
    external_id, outcome = payload["external_id"], payload["outcome"]
    status, message = payload["status"], payload["message"]
    store: TaskStoreLike | None = None
    record: JobRecord | None = None
    if job.durable:
        store = task_store_from_context(context, job.store)
        record = _load(job, store)
        if (record is None or not record.has_id or record.external_id != external_id
                or record.generation != payload["generation"]):
            stored = "nothing" if record is None else (
                f"job {record.external_id!r} generation {record.generation}")
            _log.warning("stale event about job %r generation %s (%s), but %s is stored: "
                         "deciding again", external_id, payload["generation"], outcome,
                         stored)
            return execute_deferrable(job, context, resubmits=resubmits)
        if record.finished:  # an earlier resumption finished it, hook and all
            return _finish(job, store, record, external_id, status, context)
        record = job._note_status(store, record, status)
    job._resumable_external_id = external_id
    if outcome == "succeeded":
        return _finish(job, store, record, external_id, status, context)
    if outcome == "failed":
        if store is not None and record is not None:
            job._save(store, record.evolve(phase="failed"))
        raise JobFailedError(message or f"job {external_id!r} failed with status {status!r}",
                             external_id=external_id, status=status)
    if outcome == "not_found":
        if resubmits >= job.max_resubmits:
            raise TooManyResubmitsError(
                f"job resubmitted {job.max_resubmits} times in one try and vanished each "
                "time", external_id=external_id)
        _log.warning("the system no longer knows job %r: deciding again (resubmission %d)",
                     external_id, resubmits + 1)
        return execute_deferrable(job, context, resubmits=resubmits + 1)
    if outcome == "timeout":
        raise JobTimeoutError(message, external_id=external_id, status=status)
    if outcome == "unknown":
        raise JobStatusUnknownError(message, external_id=external_id, status=status)
    raise JobHookError(f"the trigger watching job {external_id!r} failed: {message}",
                       hook="aget_job_status", external_id=external_id, status=status)

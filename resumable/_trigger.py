"""``ResumableJobTrigger``: the triggerer's side of ``deferrable=True``, polling one job.

How it works: the trigger is rebuilt from its :meth:`~ResumableJobTrigger.serialize`
keyword arguments alone (``operator``, ``state``, ``external_id``, ``generation``,
``deadline``), so a restarted triggerer resumes polling the same job. :func:`watch_job`
imports the operator class by its path (``"module:QualName"``) and builds a
*status-only* instance without running its ``__init__`` (``cls.__new__(cls)``, then each
``state`` item set as an attribute; for an Airflow operator, its ``_lock_for_execution``
flag is set first so that ``BaseOperator.__setattr__`` treats it as a running task). It
then polls ``await op.aget_job_status(external_id)`` with the blocking path's own poll
(:func:`resumable._polling.apoll_until_done`: the same tenacity strategy, the same
classification by the operator's predicates, the same transient-error rule, the
operator's ``poll_interval``/``poll_max_interval``/``max_lookup_errors``/
``max_unknown_statuses``), until the job ends or the wall-clock ``deadline`` (fixed when
the task deferred: now + ``poll_timeout``) passes. It yields exactly one ``TriggerEvent``:
``{"external_id", "generation", "status", "outcome", "message"}``, ``outcome`` one of
``succeeded``, ``failed``, ``not_found``, ``unknown``, ``timeout``, ``error`` (an error of
``aget_job_status`` that is not transient, transient errors past ``max_lookup_errors``,
or an operator that cannot be rebuilt).

What it does not do: submit anything, read or write the task store (Airflow's triggerer
cannot), or run ``get_job_result``/``on_job_finished`` (the task does, on the worker,
once it resumes). ``on_kill`` (a user marks the deferred task failed, or clears it)
cancels the job only when the operator's ``cancel_on_kill`` is set in ``state``.
Limits: this module imports Airflow; ``_deferral`` imports it only when deferring.
``state`` is kept in Airflow's ``trigger`` table (encrypted with Airflow's Fernet key
when one is set) and left out of ``repr``; keep secrets out of it where you can. The
error and unknown counters restart with the triggerer; the deadline does not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from resumable._deferral import load_operator_class
from resumable._errors import (
    JobFailedError,
    JobHookError,
    JobNotFoundError,
    JobStatusUnknownError,
    JobTimeoutError,
)
from resumable._polling import apoll_until_done

if TYPE_CHECKING:
    from resumable._job_mixin import ResumableJobMixin

__all__ = ["ResumableJobTrigger", "status_operator", "watch_job"]

_log = logging.getLogger("resumable.jobs")
CLASSPATH = "resumable._trigger.ResumableJobTrigger"


def status_operator(path: str, state: dict[str, Any]) -> ResumableJobMixin:
    """An instance of the operator at ``path`` with only ``state`` set (no ``__init__``)."""
    cls = load_operator_class(path)
    op = cls.__new__(cls)
    if hasattr(cls, "_lock_for_execution"):  # Airflow's BaseOperator: plain setattr from now
        object.__setattr__(op, "_lock_for_execution", True)
    for name, value in state.items():
        object.__setattr__(op, name, value)
    return op


def _event(external_id: Any, generation: int | None, outcome: str, status: Any = None,
           message: str = "") -> dict[str, Any]:
    if not (status is None or isinstance(status, (str, int, float, bool))):
        status = repr(status)
    return {"external_id": external_id, "generation": generation, "status": status,
            "outcome": outcome, "message": message}


async def watch_job(path: str, state: dict[str, Any], external_id: Any,
                    generation: int | None, deadline: float | None) -> dict[str, Any]:
    """Poll the job until it ends; the event payload (see the module docstring)."""
    try:
        op = status_operator(path, state)
        status = await apoll_until_done(
            lambda: op.aget_job_status(external_id), op._classify, external_id=external_id,
            interval=op.poll_interval, timeout=op.poll_timeout, deadline=deadline,
            clock=time.time, max_interval=op.poll_max_interval,
            max_errors=op.max_lookup_errors, max_unknown=op.max_unknown_statuses,
            is_transient=op.is_transient_error, hook="aget_job_status")
    except JobFailedError as exc:
        return _event(external_id, generation, "failed", exc.status, str(exc))
    except JobNotFoundError as exc:
        return _event(external_id, generation, "not_found", None, str(exc))
    except JobStatusUnknownError as exc:
        return _event(external_id, generation, "unknown", exc.status, str(exc))
    except JobTimeoutError as exc:
        return _event(external_id, generation, "timeout", exc.status, str(exc))
    except JobHookError as exc:
        return _event(external_id, generation, "error", exc.status, str(exc))
    except Exception as exc:  # transient errors past max_lookup_errors, a broken import...
        _log.warning("watching job %r failed", external_id, exc_info=True)
        return _event(external_id, generation, "error", None,
                      f"{type(exc).__name__}: {exc}")
    return _event(external_id, generation, "succeeded", status,
                  f"job {external_id!r} succeeded")


class ResumableJobTrigger(BaseTrigger):
    """Wait for one external job of a deferrable ``ResumableJobMixin`` operator.

    Built by the mixin when it defers; never submits. ``operator`` is
    ``"module:QualName"``, ``state`` the operator's ``trigger_state()``, ``deadline``
    seconds since the epoch (None: no timeout).
    """

    def __init__(self, *, operator: str, state: dict[str, Any], external_id: Any,
                 generation: int | None = None, deadline: float | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.operator = operator
        self.state = dict(state)
        self.external_id = external_id
        self.generation = generation
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and every keyword argument it is rebuilt from."""
        return CLASSPATH, {"operator": self.operator, "state": dict(self.state),
                           "external_id": self.external_id, "generation": self.generation,
                           "deadline": self.deadline}

    def __repr__(self) -> str:  # without ``state``: it may hold credentials
        return (f"<{CLASSPATH} operator={self.operator} external_id={self.external_id!r} "
                f"generation={self.generation}>")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Yield one event once the job ended (or the deadline passed)."""
        payload = await watch_job(self.operator, self.state, self.external_id,
                                  self.generation, self.deadline)
        yield TriggerEvent(payload)  # type: ignore[no-untyped-call]

    async def on_kill(self) -> None:
        """A user killed the deferred task: cancel the job if ``cancel_on_kill``."""
        if not self.state.get("cancel_on_kill"):
            return
        op = status_operator(self.operator, self.state)
        _log.info("deferred task killed: cancelling job %r", self.external_id)
        await asyncio.to_thread(op.cancel_job, self.external_id, None)

"""The non-blocking resume API: ``get_resume_decision`` and ``persist_job_id``.

How it works: a deferrable operator cannot block in ``poll_until_complete``; it asks
what to do, acts, and hands the waiting to a trigger. :func:`resume_decision` walks the
same pure decision table as the blocking path (``_job_decision.decide``) with the same
actions (query the stored job's status, look an intent's token up with ``find_job``),
and stops where the blocking path would wait or submit:

==========================  ====================================================
the table says              answer
==========================  ====================================================
WAIT (job active)           ``RECONNECT`` with the stored ID
RECHECK (status unknown)    ``RECONNECT``: the job may still run, never resubmit
REQUERY (not visible yet)   ``RECONNECT``: just submitted, the system lags
FINISH (job succeeded)      ``ALREADY_SUCCEEDED`` with the stored ID
SUBMIT / RESUBMIT           ``SUBMIT``: the intent (generation, token) is written
                            first and ``idempotency_token`` set, so ``find_job``
                            can adopt the job after a crash before
                            ``persist_job_id``; a stored, failed job's ID is removed
==========================  ====================================================

:func:`persist_job_id` then stores the ID the caller's submission returned, with
``NEVER_EXPIRE``, beside the intent's record (normalised and checked as the blocking
path does). The names are those Airflow's main branch adopted after 3.3.2, so a
hand-written deferrable operator ports with one import.

What it does not do: submit, wait, or run ``on_job_finished`` (the caller's completion
method decides when the job is done). ``durable=False`` has nothing to decide from:
the answer is always ``SUBMIT``, with a one-off token.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, NamedTuple

from resumable._context import scope_from_context, task_store_from_context
from resumable._errors import TooManyResubmitsError
from resumable._job_decision import Action, StatusKind
from resumable._job_knobs import check_knobs, knob_values
from resumable._job_record import JobRecord, meta_key
from resumable._job_tokens import one_off_token

if TYPE_CHECKING:
    from resumable._job_mixin import ResumableJobMixin

__all__ = ["ResumeAction", "ResumeDecision", "persist_job_id", "resume_decision"]

_MAX_STEPS = 50


class ResumeAction(str, enum.Enum):
    """What a non-blocking caller does next."""

    RECONNECT = "reconnect"
    ALREADY_SUCCEEDED = "already_succeeded"
    SUBMIT = "submit"


class ResumeDecision(NamedTuple):
    """The answer of ``get_resume_decision``: the action, and the job it is about."""

    action: ResumeAction
    external_id: Any = None


def resume_decision(job: ResumableJobMixin, context: Any) -> ResumeDecision:
    """Decide, without blocking, whether to reconnect, take the result, or submit."""
    check_knobs(knob_values(job))
    observer = job._begin_try(context)
    try:
        return _decide(job, context)
    finally:
        observer.close()


def _decide(job: ResumableJobMixin, context: Any) -> ResumeDecision:
    if not job.durable:
        job.idempotency_token = one_off_token()
        return ResumeDecision(ResumeAction.SUBMIT)
    store = task_store_from_context(context, job.store)
    scope = scope_from_context(context, store)
    claimer = job._claimer(store)
    record = job._load_record(store)
    status: StatusKind | None = None
    for _ in range(_MAX_STEPS):
        decision = job._next_decision(record, status, context)
        learned = job._learn(decision, store, scope, claimer, record, context)
        if learned is not None:
            record, status = learned
        elif decision.action in (Action.WAIT, Action.RECHECK, Action.REQUERY):
            assert record is not None
            job._resumable_external_id = record.external_id
            return ResumeDecision(ResumeAction.RECONNECT, record.external_id)
        elif decision.action is Action.FINISH:
            assert record is not None
            job._resumable_external_id = record.external_id
            return ResumeDecision(ResumeAction.ALREADY_SUCCEEDED, record.external_id)
        elif not claimer.try_claim(decision.generation):  # SUBMIT, RESUBMIT: claim first
            status = StatusKind.CLAIMED
        else:  # the intent is durable before the caller submits
            job._write_intent(store, scope, record, decision.generation)
            return ResumeDecision(ResumeAction.SUBMIT)
    raise TooManyResubmitsError("the resume decision did not converge",  # pragma: no cover
                                external_id=record and record.external_id)


def persist_job_id(job: ResumableJobMixin, context: Any, external_id: Any) -> Any:
    """Store the ID of the job the caller submitted after a ``SUBMIT`` answer.

    Kept with ``NEVER_EXPIRE`` under ``external_id_key``, and the intent's record moves
    to ``submitted``. Without a prior intent (``get_resume_decision`` not called) the
    record starts at generation 0. Returns the ID as stored (a tuple becomes a list).
    Does nothing but remember the ID when ``durable=False``.
    """
    job._resumable_context = context
    if not job.durable:
        job._resumable_external_id = external_id
        return external_id
    store = task_store_from_context(context, job.store)
    scope = scope_from_context(context, store)
    intent = JobRecord.load(None, store.get(meta_key(job.external_id_key)))
    if intent is None or intent.phase != "submitting":
        previous = JobRecord.load(store.get(job.external_id_key), store.get(
            meta_key(job.external_id_key)))
        generation = 0 if previous is None else previous.generation + 1
        intent = job._write_intent(store, scope, previous, generation)
    record = job._record_submission(store, intent, external_id)
    return record.external_id

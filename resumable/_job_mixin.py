"""``ResumableJobMixin``: external jobs (Spark, EMR, Databricks...) that survive worker crashes.

How it works: ``execute_resumable`` loads the job record from the task store, asks the
pure :func:`~resumable._job_decision.decide` what to do, does it, and asks again:

- nothing stored: write an *intent* (generation, token) with ``NEVER_EXPIRE``, set
  ``self.idempotency_token``, call ``submit_job``, store the ID with ``NEVER_EXPIRE``,
  poll;
- an intent without an ID (the worker died between submit and persist): call
  ``find_job(token)`` and adopt what it finds, or submit again *with the same token*
  (systems that dedupe on it return the same job);
- an ID: ask its status. Active: reattach and poll. Succeeded: take the result.
  Failed, or unknown to the system (``JobNotFoundError``): new generation, new token,
  resubmit. A status none of the predicates claims (only when ``is_job_failed`` is
  overridden): ask again with backoff, then ``JobStatusUnknownError``.

Every path returns ``get_job_result`` and runs ``on_job_finished`` once. Hooks and knobs
match Airflow 3.3's ``ResumableJobMixin`` (same ``external_id_key``, same bare ID), so an
operator switches by changing one import, and either mixin reads the ID the other wrote.
``durable=False`` stores nothing and submits every try afresh, under a one-off token.

The parts live beside it: knobs are checked by ``_job_knobs`` (at construction, and
when ``execute`` starts), tokens come from ``_job_tokens``, IDs are normalised and
validated by ``_job_ids`` before they are stored, statuses are polled by ``_polling``
(only transient errors, ``_transient``, are retried) and classified by ``_job_hooks``
(an error in a hook ends the try as ``JobHookError``, never retried).

What it does not do: guarantee one job on a system that neither dedupes on the token
nor lets ``find_job`` find it, when the crash falls between ``submit_job`` returning and
the ID being stored; ``on_job_finished`` may run again if the worker dies after it ran
and before that was recorded. Deferral: ``get_resume_decision`` and ``persist_job_id``
(``_resume_api``) give the same decisions without blocking; a trigger is not built in.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection
from typing import Any, ClassVar

from resumable._airflow_init import install_plain_init
from resumable._context import (
    TaskStoreLike,
    clear_number_from_context,
    scope_from_context,
    task_store_from_context,
)
from resumable._errors import (
    JobFailedError,
    JobIdError,
    JobNotFoundError,
    TooManyResubmitsError,
)
from resumable._job_claim import Claimer, await_other
from resumable._job_decision import Action, Decision, StatusKind, decide
from resumable._job_hooks import classify_status
from resumable._job_ids import store_job_id
from resumable._job_knobs import check_knobs, knob_values
from resumable._job_record import JobRecord, meta_key, now_iso
from resumable._job_tokens import idempotency_token_for, one_off_token, token_for_record
from resumable._polling import DEFAULT_MAX_UNKNOWN, poll_until_done, query_status
from resumable._resume_api import ResumeDecision, persist_job_id, resume_decision
from resumable._transient import is_transient_error
from store_client import NEVER_EXPIRE, TaskScope, TaskStore

__all__ = ["ResumableJobMixin", "idempotency_token_for"]

_log = logging.getLogger("resumable.jobs")
_MAX_STEPS = 50


class ResumableJobMixin:
    """Mix into an operator (before ``BaseOperator``) or a plain class to make its external
    job survive crashes and retries. Implement ``submit_job``, ``get_job_status``,
    ``is_job_active`` and ``is_job_succeeded`` (or set ``active_states`` and
    ``succeeded_states``); everything else has a default.

    Knobs (class attributes; the first four are keywords too) are checked before anything
    runs (``JobConfigurationError``): ``poll_interval``/``poll_max_interval`` (finite
    seconds >= 0), ``poll_timeout`` (None or finite seconds > 0), ``max_resubmits`` (int
    >= 0), ``max_lookup_errors`` and ``max_unknown_statuses`` (ints >= 1), ``durable``
    and ``cancel_on_kill`` (bools), ``external_id_key`` (a task-store key)."""

    #: Statuses the default predicates test membership in (None: implement the method).
    active_states: ClassVar[Collection[Any] | None] = None
    succeeded_states: ClassVar[Collection[Any] | None] = None
    #: Set it (or override ``is_job_failed``) to make unclaimed statuses *unknown*.
    failed_states: ClassVar[Collection[Any] | None] = None

    external_id_key: str = "remote_job_id"
    durable: bool = True
    poll_interval: float = 5.0
    poll_timeout: float | None = None
    poll_max_interval: float = 60.0
    cancel_on_kill: bool = False
    #: A task cleared after its job succeeded submits a new job (False: reuse the old one).
    resubmit_on_clear: bool = True
    #: Seconds a try's claim to submit stays valid without a heartbeat (0: no claims).
    claim_timeout: float = 10.0
    max_resubmits: int = 3
    max_lookup_errors: int = 10
    #: Unknown statuses in a row that end a poll when ``poll_timeout`` is None.
    max_unknown_statuses: int = DEFAULT_MAX_UNKNOWN
    idempotency_token: str | None = None

    def __init__(self, *args: Any, durable: bool | None = None,
                 poll_interval: float | None = None, poll_timeout: float | None = None,
                 cancel_on_kill: bool | None = None, **kwargs: Any) -> None:
        """Take the mixin's own keywords (unset ones keep the class attributes) and pass
        the rest on, so ``MyOperator(task_id=..., durable=False)`` works as with Airflow's.

        A bad keyword raises ``JobConfigurationError`` here, naming it.
        """
        given = {name: value for name, value in (
            ("durable", durable), ("poll_interval", poll_interval),
            ("poll_timeout", poll_timeout), ("cancel_on_kill", cancel_on_kill))
            if value is not None}
        check_knobs(given)
        for name, value in given.items():
            setattr(self, name, value)
        super().__init__(*args, **kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give an Airflow operator subclass without an ``__init__`` one of its own.

        Airflow's ``BaseOperatorMeta`` wraps only an ``__init__`` a class defines itself,
        and its wrapper expects the instance's ``__init__`` to be wrapped. This thin
        ``__init__`` is defined before the metaclass looks, so it gets wrapped; plain
        classes are left alone, and Airflow is never imported here.
        """
        super().__init_subclass__(**kwargs)
        install_plain_init(cls)

    # -- hooks the operator implements -----------------------------------------------

    def submit_job(self, context: Any) -> Any:
        """Submit the job; return its ID. Use ``self.idempotency_token`` if the system can.

        The ID must be JSON the task store can hold (a str, an int, a list or dict of
        them); tuples are stored, and passed to the other hooks, as lists. Any other
        value raises ``JobIdError`` and leaves the intent, so the retry finds the job.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement submit_job")

    def get_job_status(self, external_id: Any, context: Any) -> Any:
        """The job's current status; raise ``JobNotFoundError`` if the system has no such job."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_job_status")

    def is_job_active(self, status: Any) -> bool:
        """True while the job is still queued or running (default: in ``active_states``)."""
        if self.active_states is None:
            raise NotImplementedError(
                f"{type(self).__name__} must implement is_job_active or set active_states")
        return status in self.active_states

    def is_job_succeeded(self, status: Any) -> bool:
        """True when the job finished successfully (default: in ``succeeded_states``)."""
        if self.succeeded_states is None:
            raise NotImplementedError(f"{type(self).__name__} must implement "
                                      "is_job_succeeded or set succeeded_states")
        return status in self.succeeded_states

    def is_job_failed(self, status: Any) -> bool:
        """True when the job ended without success.

        Default: in ``failed_states`` if set, else neither active nor succeeded. Set
        ``failed_states`` or override this to make statuses that none of the three
        predicates claims *unknown*: asked again with backoff, never resubmitted blindly.
        """
        if self.failed_states is not None:
            return status in self.failed_states
        return not self.is_job_active(status) and not self.is_job_succeeded(status)

    def is_transient_error(self, error: BaseException) -> bool:
        """True if a ``get_job_status`` error is worth asking again (with backoff).

        Default (``resumable._transient``): connection errors and timeouts (builtin,
        httpx, requests, botocore), HTTP 5xx/408/425/429 answers, AWS throttling. Any
        other error fails the try at once as ``JobHookError``. Override to widen it. At
        most ``max_lookup_errors`` errors in a row are retried.
        """
        return is_transient_error(error)

    def find_job(self, token: str, context: Any) -> Any:
        """The ID of a job already submitted with ``token``, or None. Default: None."""
        return None

    def cancel_job(self, external_id: Any, context: Any) -> None:
        """Cancel the job (used by ``on_kill`` when ``cancel_on_kill``). Default: nothing."""

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        """What ``execute`` returns once the job succeeded. Default: None."""
        return None

    def on_job_finished(self, external_id: Any, result: Any, context: Any) -> None:
        """Called once when the job succeeded, whichever path found it. Default: nothing."""

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        """Wait for the job to end; return its final status, raise ``JobFailedError``.

        Asks ``get_job_status`` every ``poll_interval`` seconds while active; transient
        lookup errors and unknown statuses back off exponentially up to
        ``poll_max_interval``; gives up after ``poll_timeout`` seconds, or with no
        timeout after ``max_unknown_statuses`` unknown statuses in a row.
        """
        return poll_until_done(lambda: self.get_job_status(external_id, context),
                               self._classify, external_id=external_id,
                               interval=self.poll_interval, timeout=self.poll_timeout,
                               max_interval=self.poll_max_interval,
                               max_errors=self.max_lookup_errors,
                               max_unknown=self.max_unknown_statuses,
                               is_transient=self.is_transient_error)

    # -- entry points ----------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        """Run the job resumably (so an operator built on the mixin needs no ``execute``)."""
        return self.execute_resumable(context)

    def on_kill(self) -> None:
        """Cancel the running job if ``cancel_on_kill``; otherwise leave it for the retry."""
        external_id = getattr(self, "_resumable_external_id", None)
        if self.cancel_on_kill and external_id is not None:
            _log.info("task killed: cancelling job %r", external_id)
            self.cancel_job(external_id, getattr(self, "_resumable_context", None))
        parent = getattr(super(), "on_kill", None)
        if parent is not None:
            parent()

    def get_resume_decision(self, context: Any) -> ResumeDecision:
        """Without blocking: ``RECONNECT`` to the stored job, ``ALREADY_SUCCEEDED``, or
        ``SUBMIT`` (the intent is then written and ``idempotency_token`` set; store the
        new job's ID with :meth:`persist_job_id`). For deferrable operators."""
        return resume_decision(self, context)

    def persist_job_id(self, context: Any, external_id: Any) -> Any:
        """Store a submitted job's ID with ``NEVER_EXPIRE``; returns it as stored."""
        return persist_job_id(self, context, external_id)

    def execute_resumable(self, context: Any) -> Any:
        """Submit, reattach to, or adopt the job; wait for it; return ``get_job_result``.

        Checks every knob first (``JobConfigurationError``), before the store is read.
        """
        check_knobs(knob_values(self))
        self._resumable_context = context
        if not self.durable:
            return self._run_without_store(context)
        store = task_store_from_context(context)
        scope = scope_from_context(context, store)
        claimer = self._claimer(store)
        record = self._load_record(store)
        status: StatusKind | None = None
        resubmits = 0
        for _ in range(_MAX_STEPS):
            decision = decide(record, status, cleared=self._cleared(record, context))
            self._log_decision(decision, record)
            if decision.action is Action.QUERY:
                assert record is not None
                status, raw = self._query(record.external_id, context)
                record = self._note_status(store, record, raw)
            elif decision.action is Action.LOOK_UP:
                assert record is not None
                record, status = self._look_up(store, scope, record, context)
            elif decision.action is Action.AWAIT:
                record, status = await_other(claimer, lambda: self._load_record(store)), None
            elif decision.action in (Action.SUBMIT, Action.RESUBMIT):
                if not claimer.try_claim(decision.generation):
                    status = StatusKind.CLAIMED
                    continue
                if decision.action is Action.RESUBMIT:
                    resubmits += 1
                    if resubmits > self.max_resubmits:
                        raise TooManyResubmitsError(
                            f"job resubmitted {self.max_resubmits} times in one try and "
                            "vanished each time", external_id=record and record.external_id)
                with claimer.heartbeat(decision.generation):
                    record = self._submit(store, scope, record, decision.generation, context)
                status = StatusKind.ACTIVE
            elif decision.action in (Action.WAIT, Action.RECHECK):
                assert record is not None
                record, status = self._wait(store, record, context)
            else:  # FINISH
                assert record is not None
                return self._finish(store, record, decision, context)
        raise RuntimeError("resumable job loop did not converge")  # pragma: no cover

    # -- actions ---------------------------------------------------------------------

    def _classify(self, status: Any) -> StatusKind:
        return classify_status(status, is_active=self.is_job_active,
                               is_succeeded=self.is_job_succeeded,
                               is_failed=self.is_job_failed)

    def _query(self, external_id: Any, context: Any) -> tuple[StatusKind, Any]:
        return query_status(lambda: self.get_job_status(external_id, context), self._classify,
                            interval=self.poll_interval, timeout=self.poll_timeout,
                            max_interval=self.poll_max_interval, external_id=external_id,
                            is_transient=self.is_transient_error)

    def _save(self, store: TaskStoreLike, record: JobRecord) -> JobRecord:
        store.set(meta_key(self.external_id_key), record.to_json(), retention=NEVER_EXPIRE)
        return record

    def _note_status(self, store: TaskStoreLike, record: JobRecord, status: Any) -> JobRecord:
        if status == record.status or not _is_json_scalar(status):
            return record
        return self._save(store, record.evolve(status=status))

    def _look_up(self, store: TaskStoreLike, scope: TaskScope | None, record: JobRecord,
                 context: Any) -> tuple[JobRecord, StatusKind | None]:
        token = record.token or token_for_record(scope, self.external_id_key, record,
                                                 record.generation)[0]
        self.idempotency_token = token
        found = self.find_job(token, context)
        if found is None:
            return record, StatusKind.NOT_FOUND
        found = store_job_id(store, self.external_id_key, found, hook="find_job", token=token)
        _log.info("adopting job %r found under token %s", found, token)
        record = self._save(store, record.evolve(external_id=found, phase="submitted",
                                                  submitted_at=record.submitted_at or now_iso()))
        return record, None

    def _submit(self, store: TaskStoreLike, scope: TaskScope | None, record: JobRecord | None,
                generation: int, context: Any) -> JobRecord:
        intent = self._write_intent(store, scope, record, generation)
        return self._record_submission(store, intent, self.submit_job(context))

    def _load_record(self, store: TaskStoreLike) -> JobRecord | None:
        return JobRecord.load(store.get(self.external_id_key),
                              store.get(meta_key(self.external_id_key)))

    def _claimer(self, store: TaskStoreLike) -> Claimer:
        """This try's claim on ``store`` (a fresh owner id for every execution)."""
        return Claimer(store, self.external_id_key, secrets.token_hex(8), self.claim_timeout,
                       atomic=isinstance(store, TaskStore))

    def _cleared(self, record: JobRecord | None, context: Any) -> bool:
        """True if a new job is due because the task was cleared after its job finished."""
        return (self.resubmit_on_clear and record is not None
                and record.cleared_since(clear_number_from_context(context)))

    def _write_intent(self, store: TaskStoreLike, scope: TaskScope | None,
                      record: JobRecord | None, generation: int) -> JobRecord:
        """Make the intent durable before the job can exist; set the token to submit with."""
        token, seed = token_for_record(scope, self.external_id_key, record, generation)
        intent = self._save(store, JobRecord(
            generation=generation, token=token, phase="submitting", seed=seed,
            clear_number=clear_number_from_context(self._resumable_context)).evolve())
        if record is not None and record.has_id:
            store.delete(self.external_id_key)
        self.idempotency_token = token
        return intent

    def _record_submission(self, store: TaskStoreLike, intent: JobRecord,
                           external_id: Any) -> JobRecord:
        """Store the submitted job's ID beside its intent (``NEVER_EXPIRE``)."""
        # A refused ID leaves the intent: the next try finds the job by its token.
        external_id = store_job_id(store, self.external_id_key, external_id,
                                   hook="submit_job", token=intent.token)
        self._resumable_external_id = external_id
        _log.info("submitted job %r (generation %d, token %s)", external_id,
                  intent.generation, intent.token)
        return self._save(store, intent.evolve(external_id=external_id, phase="submitted",
                                               submitted_at=now_iso()))

    def _wait(self, store: TaskStoreLike, record: JobRecord,
              context: Any) -> tuple[JobRecord, StatusKind | None]:
        self._resumable_external_id = record.external_id
        try:
            final = self.poll_until_complete(record.external_id, context)
        except JobNotFoundError:
            return record, StatusKind.NOT_FOUND
        except JobFailedError as exc:  # the job ended failed; anything else leaves it
            failed_status = exc.status      # "submitted": it may still run (a retry asks)
            self._save(store, record.evolve(
                phase="failed",
                status=failed_status if _is_json_scalar(failed_status) else record.status))
            raise
        if _is_json_scalar(final) and final is not None:
            record = record.evolve(status=final)
        return record, StatusKind.SUCCEEDED

    def _finish(self, store: TaskStoreLike, record: JobRecord, decision: Decision,
                context: Any) -> Any:
        self._resumable_external_id = record.external_id
        result = self.get_job_result(record.external_id, context)
        if decision.run_hook:
            self.on_job_finished(record.external_id, result, context)
            self._save(store, record.evolve(
                phase="finished", clear_number=clear_number_from_context(context)))
        return result

    def _run_without_store(self, context: Any) -> Any:
        # Nothing is stored, so no generation can be counted: a fixed token would make a
        # system that dedupes on it hand every retry the same (failed) job.
        self.idempotency_token = one_off_token()
        external_id = self.submit_job(context)
        if external_id is None:
            raise JobIdError("submit_job returned None, not a job ID", hook="submit_job")
        self._resumable_external_id = external_id
        self.poll_until_complete(external_id, context)
        result = self.get_job_result(external_id, context)
        self.on_job_finished(external_id, result, context)
        return result

    def _log_decision(self, decision: Decision, record: JobRecord | None) -> None:
        """Logging hook around the pure decision; override to emit metrics."""
        level = logging.WARNING if decision.warn else logging.INFO
        job = f"job {record.external_id!r}, " if record is not None and record.has_id else ""
        _log.log(level, "%s: %s (%sgeneration %d)", self.external_id_key, decision.reason, job,
                 decision.generation)


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))

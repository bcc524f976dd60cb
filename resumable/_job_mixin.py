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
  overridden): ask again with backoff, then ``JobStatusUnknownError``. Not found right
  after this task submitted it (``not_found_grace``): asked again, not resubmitted. An
  identity (``get_job_identity``) other than the stored one: a new generation.
- a task cleared after its job succeeded (Airflow's ``clear_number``): a new generation.
- before submitting, claim the generation in the task store (``_job_claim``): a second
  try running at the same time waits for the first one's job and reattaches.

Every path returns ``get_job_result`` and runs ``on_job_finished`` once. Hooks and knobs
match Airflow 3.3's ``ResumableJobMixin`` (same ``external_id_key``, same bare ID), so an
operator switches by changing one import, and either mixin reads the ID the other wrote.
``durable=False`` stores nothing and submits every try afresh, under a one-off token.

The parts live beside it: the hooks and knobs with their defaults in ``_job_hooks_base``,
the actions in ``_job_steps``; knobs are checked by ``_job_knobs`` (at construction, and
when ``execute`` starts), tokens come from ``_job_tokens``, IDs are normalised and
validated by ``_job_ids`` before they are stored, statuses are polled by ``_polling``
(only transient errors, ``_transient``, are retried) and classified by ``_job_hooks``
(an error in a hook ends the try as ``JobHookError``, never retried).
``get_resume_decision`` and ``persist_job_id`` (``_resume_api``) give the same decisions
without blocking; ``deferrable=True`` makes ``execute`` take them and wait in Airflow's
triggerer (``_deferral``, ``_trigger``).

What it does not do: guarantee one job on a system that neither dedupes on the token
nor lets ``find_job`` find it, when the crash falls between ``submit_job`` returning and
the ID being stored; ``on_job_finished`` may run again if the worker dies after it ran
and before that was recorded, or if two overlapping tries both see the job succeed.
"""

from __future__ import annotations

import logging
from typing import Any

from resumable._airflow_init import install_plain_init
from resumable._context import find_task_store, scope_from_context
from resumable._deferral import complete_deferred, execute_deferrable
from resumable._errors import TooManyResubmitsError
from resumable._job_decision import Action, StatusKind
from resumable._job_knobs import check_knobs, check_store, knob_values
from resumable._job_steps import JobSteps
from resumable._job_tokens import idempotency_token_for
from resumable._resume_api import ResumeDecision, persist_job_id, resume_decision

__all__ = ["ResumableJobMixin", "idempotency_token_for"]

_log = logging.getLogger("resumable.jobs")
_MAX_STEPS = 50


class ResumableJobMixin(JobSteps):
    """Mix into an operator (before ``BaseOperator``) or a plain class to make its external
    job survive crashes and retries. Implement ``submit_job``, ``get_job_status``,
    ``is_job_active`` and ``is_job_succeeded`` (or set ``active_states`` and
    ``succeeded_states``); everything else has a default.

    Knobs (class attributes; the first four are keywords too) are checked before anything
    runs (``JobConfigurationError``): ``poll_interval``/``poll_max_interval`` (finite
    seconds >= 0), ``poll_timeout`` (None or finite seconds > 0), ``max_resubmits`` (int
    >= 0), ``max_lookup_errors`` and ``max_unknown_statuses`` (ints >= 1), ``durable``,
    ``cancel_on_kill`` and ``deferrable`` (bools; ``deferrable`` is a keyword too),
    ``external_id_key`` (a task-store key), ``store`` (None or a ``StoreClient``: the
    task's state on that store, under the task's scope, instead of the context's)."""

    def __init__(self, *args: Any, durable: bool | None = None,
                 poll_interval: float | None = None, poll_timeout: float | None = None,
                 cancel_on_kill: bool | None = None, deferrable: bool | None = None,
                 store: Any = None, **kwargs: Any) -> None:
        """Take the mixin's own keywords (unset ones keep the class attributes) and pass
        the rest on, so ``MyOperator(task_id=..., durable=False)`` works as with Airflow's.

        A bad keyword raises ``JobConfigurationError`` here, naming it.
        """
        given = {name: value for name, value in (
            ("durable", durable), ("poll_interval", poll_interval),
            ("poll_timeout", poll_timeout), ("cancel_on_kill", cancel_on_kill),
            ("deferrable", deferrable))
            if value is not None}
        check_knobs(given)
        if store is not None:
            check_store(store)
            given["store"] = store
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

    # -- entry points ----------------------------------------------------------------

    def execute(self, context: Any) -> Any:
        """Run the job resumably (so an operator built on the mixin needs no ``execute``);
        with ``deferrable``, decide and submit here and wait in the triggerer."""
        if self.deferrable:
            return execute_deferrable(self, context)
        return self.execute_resumable(context)

    def execute_complete(self, context: Any, event: Any = None, resubmits: int = 0) -> Any:
        """Resume after the trigger's event (checked against the stored record first)."""
        return complete_deferred(self, context, event, resubmits=resubmits)

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
        check_store(self.store)
        observer = self._begin_try(context)
        try:
            return self._execute_steps(context)
        finally:
            observer.close()

    def _execute_steps(self, context: Any) -> Any:
        if not self.durable:
            return self._run_without_store(context)
        store = find_task_store(context, self.store)
        if store is None:  # as Airflow's mixin: warn, and run without crash recovery
            self._observer().emit("no_task_state_store")
            self._observer().close()
            return self._run_without_store(context)
        scope = scope_from_context(context, store)
        claimer = self._claimer(store)
        record = self._load_record(store)
        status: StatusKind | None = None
        resubmits = 0
        for _ in range(_MAX_STEPS):
            decision = self._next_decision(record, status, context)
            learned = self._learn(decision, store, scope, claimer, record, context)
            if learned is not None:
                record, status = learned
            elif decision.action is Action.REQUERY:
                assert record is not None
                record, status = self._requery(store, record, context)
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
                    submitted = self._submit(store, scope, record, decision.generation,
                                             context)
                if submitted is None:  # no ID to store (submit_job returned None)
                    return self._run_unrecorded(None, context)
                record, status = submitted, StatusKind.ACTIVE
            elif decision.action in (Action.WAIT, Action.RECHECK):
                assert record is not None
                record, status = self._wait(store, record, context)
            else:  # FINISH
                assert record is not None
                return self._finish(store, record, decision, context)
        raise RuntimeError("resumable job loop did not converge")  # pragma: no cover

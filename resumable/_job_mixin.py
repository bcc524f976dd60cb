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

What it does not do: guarantee one job on a system that neither dedupes on the token
nor lets ``find_job`` find it, when the crash falls between ``submit_job`` returning and
the ID being stored; ``on_job_finished`` may run again if the worker dies after it ran
and before that was recorded. Deferral (triggers) is not supported.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import secrets
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from resumable._context import TaskStoreLike, scope_from_context, task_store_from_context
from resumable._errors import JobFailedError, JobNotFoundError, TooManyResubmitsError
from resumable._job_decision import Action, Decision, StatusKind, decide
from resumable._job_record import JobRecord, meta_key, now_iso
from resumable._polling import is_transient_error, poll_until_done, query_status
from store_client import NEVER_EXPIRE, TaskScope

__all__ = ["ResumableJobMixin", "idempotency_token_for"]

_log = logging.getLogger("resumable.jobs")
_MAX_STEPS = 50


def idempotency_token_for(scope: TaskScope | None, external_id_key: str, generation: int,
                          seed: str | None = None) -> str:
    """A deterministic token (``rsm-<32 hex>-g<generation>``, at most 64 characters).

    Derived from the task scope (dag, run, task, map index), the ID key and the
    generation; never from the try number. Without a scope, from a stored random seed.
    """
    if scope is not None:
        basis = f"{scope.dag_id}\x1f{scope.run_id}\x1f{scope.task_id}\x1f{scope.map_index}"
    else:
        basis = f"seed\x1f{seed}"
    digest = hashlib.sha256(f"{basis}\x1f{external_id_key}".encode()).hexdigest()[:32]
    return f"rsm-{digest}-g{generation}"


def _plain_init_signature(cls: type) -> inspect.Signature:
    """``(self, *, <the plain __init__ parameters before BaseOperator>, **kwargs)``.

    Airflow checks ``partial()``/``expand()`` keywords against the signatures of the
    ``__init__`` methods its metaclass wrapped; the mixin's own and the operator's plain
    ``__init__`` are not among them, so the generated ``__init__`` declares them.
    """
    seen: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__[1:]:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        if hasattr(init, "_BaseOperatorMeta__param_names"):
            break  # Airflow's own, wrapped __init__ methods: it knows those
        for name, param in list(inspect.signature(init).parameters.items())[1:]:
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                seen.setdefault(name, param.replace(kind=param.KEYWORD_ONLY))
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    kwargs = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
    return inspect.Signature([self_param, *seen.values(), kwargs])


class ResumableJobMixin:
    """Mix into an operator (before ``BaseOperator``) or a plain class to make its external
    job survive crashes and retries. Implement ``submit_job``, ``get_job_status``,
    ``is_job_active`` and ``is_job_succeeded`` (or set ``active_states`` and
    ``succeeded_states``); everything else has a default."""

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
    max_resubmits: int = 3
    max_lookup_errors: int = 10
    idempotency_token: str | None = None

    def __init__(self, *args: Any, durable: bool | None = None,
                 poll_interval: float | None = None, poll_timeout: float | None = None,
                 cancel_on_kill: bool | None = None, **kwargs: Any) -> None:
        """Take the mixin's own keywords (unset ones keep the class attributes) and pass
        the rest on, so ``MyOperator(task_id=..., durable=False)`` works as with Airflow's."""
        if durable is not None:
            self.durable = durable
        if poll_interval is not None:
            self.poll_interval = poll_interval
        if poll_timeout is not None:
            self.poll_timeout = poll_timeout
        if cancel_on_kill is not None:
            self.cancel_on_kill = cancel_on_kill
        super().__init__(*args, **kwargs)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give an Airflow operator subclass without an ``__init__`` one of its own.

        Airflow's ``BaseOperatorMeta`` wraps only an ``__init__`` a class defines itself,
        and its wrapper expects the instance's ``__init__`` to be wrapped. This thin
        ``__init__`` is defined before the metaclass looks, so it gets wrapped; plain
        classes are left alone, and Airflow is never imported here.
        """
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__ or not hasattr(type(cls), "_apply_defaults"):
            return

        def __init__(self: Any, *args: Any, **init_kwargs: Any) -> None:
            super(cls, self).__init__(*args, **init_kwargs)

        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__signature__ = _plain_init_signature(cls)  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[method-assign]

    # -- hooks the operator implements -----------------------------------------------

    def submit_job(self, context: Any) -> Any:
        """Submit the job; return its ID. Use ``self.idempotency_token`` if the system can."""
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

        Default: everything but an HTTP 4xx answer (408, 425 and 429 excepted) from httpx
        or requests. At most ``max_lookup_errors`` errors in a row are retried.
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

        Asks ``get_job_status`` every ``poll_interval`` seconds while active; lookup errors
        and unknown statuses back off exponentially up to ``poll_max_interval``; gives up
        after ``poll_timeout`` seconds (None: never).
        """
        return poll_until_done(lambda: self._check(external_id, context),
                               external_id=external_id, interval=self.poll_interval,
                               timeout=self.poll_timeout, max_interval=self.poll_max_interval,
                               max_errors=self.max_lookup_errors,
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

    def execute_resumable(self, context: Any) -> Any:
        """Submit, reattach to, or adopt the job; wait for it; return ``get_job_result``."""
        self._resumable_context = context
        if not self.durable:
            return self._run_without_store(context)
        store = task_store_from_context(context)
        scope = scope_from_context(context, store)
        record = JobRecord.load(store.get(self.external_id_key),
                                store.get(meta_key(self.external_id_key)))
        status: StatusKind | None = None
        resubmits = 0
        for _ in range(_MAX_STEPS):
            decision = decide(record, status)
            self._log_decision(decision, record)
            if decision.action is Action.QUERY:
                assert record is not None
                status, raw = self._query(record.external_id, context)
                record = self._note_status(store, record, raw)
            elif decision.action is Action.LOOK_UP:
                assert record is not None
                record, status = self._look_up(store, scope, record, context)
            elif decision.action in (Action.SUBMIT, Action.RESUBMIT):
                if decision.action is Action.RESUBMIT:
                    resubmits += 1
                    if resubmits > self.max_resubmits:
                        raise TooManyResubmitsError(
                            f"job resubmitted {self.max_resubmits} times in one try and "
                            "vanished each time", external_id=record and record.external_id)
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

    def _check(self, external_id: Any, context: Any) -> tuple[StatusKind, Any]:
        status = self.get_job_status(external_id, context)
        return self._classify(status), status

    def _classify(self, status: Any) -> StatusKind:
        if self.is_job_active(status):
            return StatusKind.ACTIVE
        if self.is_job_succeeded(status):
            return StatusKind.SUCCEEDED
        if self.is_job_failed(status):
            return StatusKind.FAILED
        return StatusKind.UNKNOWN

    def _query(self, external_id: Any, context: Any) -> tuple[StatusKind, Any]:
        raw: list[Any] = [None]

        def check() -> tuple[StatusKind, Any]:
            raw[0] = self.get_job_status(external_id, context)
            return self._classify(raw[0]), raw[0]

        kind, _ = query_status(check, interval=self.poll_interval, timeout=self.poll_timeout,
                               max_interval=self.poll_max_interval,
                               is_transient=self.is_transient_error)
        return kind, raw[0]

    def _save(self, store: TaskStoreLike, record: JobRecord) -> JobRecord:
        store.set(meta_key(self.external_id_key), record.to_json(), retention=NEVER_EXPIRE)
        return record

    def _note_status(self, store: TaskStoreLike, record: JobRecord, status: Any) -> JobRecord:
        if status == record.status or not _is_json_scalar(status):
            return record
        return self._save(store, record.evolve(status=status))

    def _token(self, scope: TaskScope | None, record: JobRecord | None,
               generation: int) -> tuple[str, str | None]:
        seed = record.seed if record is not None else None
        if scope is None and seed is None:
            seed = secrets.token_hex(16)
        return idempotency_token_for(scope, self.external_id_key, generation, seed), seed

    def _look_up(self, store: TaskStoreLike, scope: TaskScope | None, record: JobRecord,
                 context: Any) -> tuple[JobRecord, StatusKind | None]:
        token = record.token or self._token(scope, record, record.generation)[0]
        self.idempotency_token = token
        found = self.find_job(token, context)
        if found is None:
            return record, StatusKind.NOT_FOUND
        _log.info("adopting job %r found under token %s", found, token)
        store.set(self.external_id_key, found, retention=NEVER_EXPIRE)
        record = self._save(store, record.evolve(external_id=found, phase="submitted",
                                                  submitted_at=record.submitted_at or now_iso()))
        return record, None

    def _submit(self, store: TaskStoreLike, scope: TaskScope | None, record: JobRecord | None,
                generation: int, context: Any) -> JobRecord:
        token, seed = self._token(scope, record, generation)
        intent = JobRecord(generation=generation, token=token, phase="submitting",
                           seed=seed).evolve()
        self._save(store, intent)  # the intent is durable before the job can exist
        if record is not None and record.has_id:
            store.delete(self.external_id_key)
        self.idempotency_token = token
        external_id = self.submit_job(context)
        if external_id is None:
            raise TypeError(f"{type(self).__name__}.submit_job returned None, not a job ID")
        store.set(self.external_id_key, external_id, retention=NEVER_EXPIRE)
        _log.info("submitted job %r (generation %d, token %s)", external_id, generation, token)
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
            self._save(store, record.evolve(phase="finished"))
        return result

    def _run_without_store(self, context: Any) -> Any:
        scope = scope_from_context(context, None) if isinstance(context, Mapping) else None
        self.idempotency_token = idempotency_token_for(
            scope, self.external_id_key, 0, None if scope else secrets.token_hex(16))
        external_id = self.submit_job(context)
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

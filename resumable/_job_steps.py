"""The actions of ``ResumableJobMixin``: each step the decision table asks for.

How it works: :class:`JobSteps` performs what ``_job_decision.decide`` returns, one
thin method per action, reading and writing the job record (``_job_record``) in the
task store: query and observe a status (seen, identity), look an intent's token up,
claim and submit (intent first, ``_job_claim``), wait, finish once, and the ``durable
=False`` path that stores nothing. ``ResumableJobMixin.execute_resumable`` and the
non-blocking ``_resume_api`` and ``_deferral`` share them.

What it does not do: decide (``_job_decision``), or check knobs (``_job_knobs``).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from resumable._context import TaskStoreLike, clear_number_from_context
from resumable._errors import JobFailedError, JobNotFoundError
from resumable._job_claim import Claimer, await_other, claim_key
from resumable._job_decision import Action, Decision, StatusKind, decide
from resumable._job_hooks_base import JobHooks
from resumable._job_ids import store_job_id
from resumable._job_record import JobRecord, meta_key, now_iso
from resumable._job_tokens import one_off_token, token_for_record
from resumable._observe import JobObserver
from resumable._polling import query_status
from store_client import NEVER_EXPIRE, StoreError, TaskScope, TaskStore, encode_value

__all__ = ["JobSteps"]

_log = logging.getLogger("resumable.jobs")
#: Longest pause before asking again about a job not visible yet.
_REQUERY_PAUSE = 2.0


class JobSteps(JobHooks):
    """The actions behind the resume decision (private: use ``ResumableJobMixin``)."""

    _resumable_context: Any = None
    _resumable_external_id: Any = None
    _resumable_observer: JobObserver | None = None

    def _begin_try(self, context: Any) -> JobObserver:
        """Start observing a new try (metrics, span, logs: ``_observe``)."""
        self._resumable_context = context
        if self._resumable_observer is not None:
            self._resumable_observer.close()
        self._resumable_observer = JobObserver(self, context)
        return self._resumable_observer

    def _observer(self) -> JobObserver:
        return self._resumable_observer or self._begin_try(self._resumable_context)

    def _next_decision(self, record: JobRecord | None, status: StatusKind | None,
                       context: Any) -> Decision:
        """The table's decision for this record and status, in this try's situation."""
        decision = decide(record, status, cleared=self._cleared(record, context),
                          lagging=self._lagging(record))
        self._observer().decided(decision, status, record)
        return decision

    def _learn(self, decision: Decision, store: TaskStoreLike, scope: TaskScope | None,
               claimer: Claimer, record: JobRecord | None,
               context: Any) -> tuple[JobRecord | None, StatusKind | None] | None:
        """Do an action that only finds things out (QUERY, LOOK_UP, AWAIT), the same on
        the blocking and the non-blocking path; None for every other action."""
        if decision.action is Action.QUERY:
            assert record is not None
            status, raw = self._query(record.external_id, context)
            return self._observe(store, record, status, raw, context)
        if decision.action is Action.LOOK_UP:
            assert record is not None
            return self._look_up(store, scope, record, context)
        if decision.action is Action.AWAIT:
            return await_other(claimer, lambda: self._load_record(store)), None
        return None

    def _query(self, external_id: Any, context: Any) -> tuple[StatusKind, Any]:
        status, raw = query_status(lambda: self.get_job_status(external_id, context),
                                   self._classify, interval=self.poll_interval,
                                   timeout=self.poll_timeout,
                                   max_interval=self.poll_max_interval,
                                   external_id=external_id,
                                   is_transient=self.is_transient_error)
        self._observer().status_seen(raw)
        return status, raw

    def _save(self, store: TaskStoreLike, record: JobRecord) -> JobRecord:
        store.set(meta_key(self.external_id_key), record.to_json(), retention=NEVER_EXPIRE)
        return record

    def _observe(self, store: TaskStoreLike, record: JobRecord, status: StatusKind,
                 raw: Any, context: Any) -> tuple[JobRecord, StatusKind]:
        """Note what a status answer tells: the job exists (seen), its status, its identity."""
        if status is StatusKind.NOT_FOUND:
            return record, status
        identity = self.get_job_identity(record.external_id, context)
        if identity is not None and record.identity is not None and identity != record.identity:
            return record, StatusKind.REPLACED
        first_identity = identity if record.identity is None and _is_json(identity) else None
        return self._note_status(store, record, raw, identity=first_identity), status

    def _note_status(self, store: TaskStoreLike, record: JobRecord, status: Any, *,
                     identity: Any = None) -> JobRecord:
        """Record a status answer for the stored job: it was seen, its status, and (the
        first time it is known) its identity. Writes only what changed."""
        changes: dict[str, Any] = {} if record.seen else {"seen": True}
        if status != record.status and _is_json_scalar(status):
            changes["status"] = status
        if identity is not None:
            changes["identity"] = identity
        return self._save(store, record.evolve(**changes)) if changes else record

    def _requery(self, store: TaskStoreLike, record: JobRecord,
                 context: Any) -> tuple[JobRecord, StatusKind]:
        """Ask again, with growing pauses, until the job shows up or the grace window ends."""
        pause = min(self.poll_interval, 0.05) or 0.05
        while True:
            time.sleep(pause)
            pause = min(pause * 2, _REQUERY_PAUSE)
            status, raw = self._query(record.external_id, context)
            record, status = self._observe(store, record, status, raw, context)
            if status is not StatusKind.NOT_FOUND or not self._lagging(record):
                return record, status

    def _lagging(self, record: JobRecord | None) -> bool:
        """True if a "not found" for the stored job may be the system's reads lagging."""
        return (record is not None and record.has_id and not record.seen
                and record.submitted_within(self.not_found_grace, datetime.now(timezone.utc)))

    def _look_up(self, store: TaskStoreLike, scope: TaskScope | None, record: JobRecord,
                 context: Any) -> tuple[JobRecord, StatusKind | None]:
        token = record.token or token_for_record(scope, self.external_id_key, record,
                                                 record.generation)[0]
        self.idempotency_token = token
        found = self.find_job(token, context)
        if found is None:
            return record, StatusKind.NOT_FOUND
        found = store_job_id(store, self.external_id_key, found, hook="find_job", token=token)
        self._observer().emit("adopted", external_id=found, token=token)
        record = self._save(store, record.evolve(external_id=found, phase="submitted",
                                                  submitted_at=record.submitted_at or now_iso()))
        return record, None

    def _submit(self, store: TaskStoreLike, scope: TaskScope | None, record: JobRecord | None,
                generation: int, context: Any) -> JobRecord | None:
        """Write the intent, submit, store the ID; None (and nothing left stored) if
        ``submit_job`` returned None, as Airflow's mixin treats it: no ID to keep."""
        intent = self._write_intent(store, scope, record, generation)
        external_id = self.submit_job(context)
        if external_id is None:
            for key in (meta_key(self.external_id_key), claim_key(self.external_id_key)):
                store.delete(key)
            self._observer().emit("no_job_id")
            return None
        return self._record_submission(store, intent, external_id)

    def _load_record(self, store: TaskStoreLike) -> JobRecord | None:
        return JobRecord.load(store.get(self.external_id_key),
                              store.get(meta_key(self.external_id_key)))

    def _claimer(self, store: TaskStoreLike) -> Claimer:
        """This try's claim on ``store`` (a fresh owner id for every execution)."""
        observer = self._observer()
        return Claimer(store, self.external_id_key, secrets.token_hex(8), self.claim_timeout,
                       atomic=isinstance(store, TaskStore),
                       on_lost=lambda: observer.emit("claim_lost"))

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
        record = self._save(store, intent.evolve(external_id=external_id, phase="submitted",
                                                 submitted_at=now_iso()))
        self._observer().emit("submitted", external_id=external_id, token=intent.token)
        self._observer().emit("persisted", external_id=external_id)
        return record

    def _status_recorder(self, store: TaskStoreLike,
                         records: list[JobRecord]) -> Callable[[Any], None]:
        """Record each status the poll sees when it changes (a store error only warns:
        the job is still waited for)."""
        def heard(status: Any) -> None:
            try:
                records[0] = self._note_status(store, records[0], status)
            except StoreError as exc:
                _log.warning("could not record status %r of job %r: %s", status,
                             records[0].external_id, exc)
        return heard

    def _wait(self, store: TaskStoreLike, record: JobRecord,
              context: Any) -> tuple[JobRecord, StatusKind | None]:
        self._resumable_external_id = record.external_id
        records = [record]
        self._status_listener = self._status_recorder(store, records)
        try:
            final = self.poll_until_complete(record.external_id, context)
        except JobNotFoundError:
            return records[0], StatusKind.NOT_FOUND
        except JobFailedError as exc:  # the job ended failed; anything else leaves it
            failed_status = exc.status      # "submitted": it may still run (a retry asks)
            self._save(store, records[0].evolve(
                phase="failed", status=failed_status if _is_json_scalar(failed_status)
                else records[0].status))
            raise
        finally:
            self._status_listener = None
        record = records[0]
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
            self._observer().emit("no_job_id")
        return self._run_unrecorded(external_id, context)

    def _run_unrecorded(self, external_id: Any, context: Any) -> Any:
        """Wait for a job nothing was stored about, and return its result."""
        self._resumable_external_id = external_id
        self.poll_until_complete(external_id, context)
        result = self.get_job_result(external_id, context)
        self.on_job_finished(external_id, result, context)
        return result


def _is_json_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _is_json(value: Any) -> bool:
    try:
        encode_value("identity", value)
    except ValueError:
        return False
    return True

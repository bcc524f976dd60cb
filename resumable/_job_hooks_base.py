"""The hooks and knobs of ``ResumableJobMixin``: what an operator implements or sets.

How it works: :class:`JobHooks` holds the knobs (class attributes, checked by
``_job_knobs``) and every hook with its default, in the names of Airflow 3.3's
``ResumableJobMixin`` (``submit_job``, ``get_job_status``, ``is_job_active``,
``is_job_succeeded``, ...) plus ours (``find_job``, ``cancel_job``, ``on_job_finished``,
``get_job_identity``, ``aget_job_status``/``trigger_state`` for deferral). An operator
overrides hooks on its own class; ``ResumableJobMixin`` inherits these through
``_job_steps.JobSteps``.

The four hooks no default can guess (``submit_job``, ``get_job_status``,
``is_job_active``, ``is_job_succeeded``) must be implemented, as in Airflow's mixin: a
class missing any of them cannot be instantiated, and the ``TypeError`` names each one.
The first two are ``abc`` abstract methods (type checkers see them too); setting
``active_states`` / ``succeeded_states`` on the class implements the predicates (a
membership test), so those are checked when the class is instantiated.

What it does not do: decide or store anything (``_job_decision``, ``_job_steps``).
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Collection
from typing import Any, ClassVar, TypeVar

from resumable._job_decision import StatusKind
from resumable._job_hooks import classify_status
from resumable._job_knobs import knob_values
from resumable._polling import DEFAULT_MAX_UNKNOWN, poll_until_done
from resumable._transient import is_transient_error

__all__ = ["JobHooks", "missing_hooks"]


_Hooks = TypeVar("_Hooks", bound="JobHooks")


#: The predicates a class attribute of states can implement: hook -> that attribute.
_SHORTCUTS = {"is_job_active": "active_states", "is_job_succeeded": "succeeded_states"}


def missing_hooks(cls: type) -> list[str]:
    """The hooks ``cls`` still has to implement, each with how (sorted)."""
    missing = set(getattr(cls, "__abstractmethods__", ()))
    for name, states in _SHORTCUTS.items():
        if getattr(cls, name) is getattr(JobHooks, name) and getattr(cls, states) is None:
            missing.add(name)
    return [f"{name} (or set {_SHORTCUTS[name]})" if name in _SHORTCUTS else name
            for name in sorted(missing)]


class JobHooks(abc.ABC):
    """Knobs and hooks, with their defaults (see ``ResumableJobMixin``)."""

    #: Statuses the default predicates test membership in (None: implement the method).
    active_states: ClassVar[Collection[Any] | None] = None
    succeeded_states: ClassVar[Collection[Any] | None] = None
    #: Set it (or override ``is_job_failed``) to make unclaimed statuses *unknown*.
    failed_states: ClassVar[Collection[Any] | None] = None

    external_id_key: str = "remote_job_id"
    #: A ``StoreClient`` (``connect(url)``) for the task's state, instead of the context's.
    store: Any = None
    durable: bool = True
    poll_interval: float = 5.0
    poll_timeout: float | None = None
    poll_max_interval: float = 60.0
    cancel_on_kill: bool = False
    #: Wait in Airflow's triggerer instead of a worker slot (``aget_job_status``).
    deferrable: bool = False
    #: A task cleared after its job succeeded submits a new job (False: reuse the old one).
    resubmit_on_clear: bool = True
    #: Seconds a try's claim to submit stays valid without a heartbeat (0: no claims).
    claim_timeout: float = 10.0
    #: Seconds after submitting in which "not found" means "not visible yet" (lagging reads).
    not_found_grace: float = 30.0
    max_resubmits: int = 3
    max_lookup_errors: int = 10
    #: Unknown statuses in a row that end a poll when ``poll_timeout`` is None.
    max_unknown_statuses: int = DEFAULT_MAX_UNKNOWN
    idempotency_token: str | None = None

    def __new__(cls: type[_Hooks], *args: Any, **kwargs: Any) -> _Hooks:
        """Refuse a class with hooks left to implement, naming each (``TypeError``)."""
        missing = missing_hooks(cls)
        if missing:
            raise TypeError(f"{cls.__name__} cannot be instantiated: implement "
                            f"{', '.join(missing)}")
        return super().__new__(cls)

    @abc.abstractmethod
    def submit_job(self, context: Any) -> Any:
        """Submit the job; return its ID. Use ``self.idempotency_token`` if the system can.

        The ID must be JSON the task store can hold (a str, an int, a list or dict of
        them); tuples are stored, and passed to the other hooks, as lists. Any other
        value raises ``JobIdError`` and leaves the intent, so the retry finds the job.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement submit_job")

    @abc.abstractmethod
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
        return None

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        """What ``execute`` returns once the job succeeded. Default: None."""
        return None

    def on_job_finished(self, external_id: Any, result: Any, context: Any) -> None:
        """Called once when the job succeeded, whichever path found it. Default: nothing."""
        return None

    def _classify(self, status: Any) -> StatusKind:
        """The status as the predicates classify it (an error in one is a ``JobHookError``)."""
        return classify_status(status, is_active=self.is_job_active,
                               is_succeeded=self.is_job_succeeded,
                               is_failed=self.is_job_failed)

    #: Told each status the default poll sees (the mixin records changes: ``_job_steps``).
    _status_listener: Callable[[Any], None] | None = None

    def _heard(self, status: Any) -> Any:
        listener = self._status_listener
        if listener is not None:
            listener(status)
        return status

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        """Wait for the job to end; return its final status, raise ``JobFailedError``.

        Asks ``get_job_status`` every ``poll_interval`` seconds while active; transient
        lookup errors and unknown statuses back off exponentially up to
        ``poll_max_interval``; gives up after ``poll_timeout`` seconds, or with no
        timeout after ``max_unknown_statuses`` unknown statuses in a row. Each new
        status is recorded beside the job ID as it is seen (``resumable jobs`` shows it).
        """
        return poll_until_done(lambda: self._heard(self.get_job_status(external_id, context)),
                               self._classify, external_id=external_id,
                               interval=self.poll_interval, timeout=self.poll_timeout,
                               max_interval=self.poll_max_interval,
                               max_errors=self.max_lookup_errors,
                               max_unknown=self.max_unknown_statuses,
                               is_transient=self.is_transient_error)

    async def aget_job_status(self, external_id: Any) -> Any:
        """The job's status, asked by the triggerer when ``deferrable`` (no context there).

        Runs on a status-only instance (``__init__`` not run; ``trigger_state`` set).
        Default: ``get_job_status(external_id, None)`` in a thread.
        """
        return await asyncio.to_thread(self.get_job_status, external_id, None)

    def trigger_state(self) -> dict[str, Any]:
        """JSON attributes the trigger sets on its status-only instance. Default: the
        knobs; add what ``aget_job_status`` needs (a host...)."""
        return knob_values(self)

    def get_job_identity(self, external_id: Any, context: Any) -> Any:
        """What the system says identifies the job (its creation time, a UID), or None.

        Optional. When it returns a JSON value, the first one seen is kept beside the ID;
        a later try whose stored ID answers with another identity (an ID reused after the
        system was reset, a pod recreated under the same name) resubmits, with a warning.
        Default: None (no check).
        """
        return None

"""Polling an external job's status: a fixed interval while it is active, a bounded and
jittered exponential backoff after transient lookup errors and unknown statuses.

How it works, in two layers:

- :func:`lookup_status` calls ``lookup()`` (the operator's ``get_job_status``) under a
  tenacity ``Retrying`` that retries only the errors ``is_transient`` calls transient, at
  most ``max_errors`` in a row and never past the deadline, then re-raises the last one.
  Any other error ends it at once: resumable's own (``JobNotFoundError``...) as they are,
  anything else as ``JobHookError`` naming the hook, raised ``from`` the original.
- :func:`poll_until_done` loops: look the status up, classify it with ``classify`` (the
  operator's predicates, called *outside* the retry: a predicate's error is never
  retried), and let the pure :func:`next_poll_step` say what comes next: the raw status
  (succeeded), ``JobFailedError`` (failed), another look after ``interval`` (active) or
  after a backoff (unknown), or the end: ``JobTimeoutError`` (still active at
  ``timeout``), ``JobStatusUnknownError`` (still unknown at ``timeout``; with no timeout,
  after ``max_unknown`` unknown answers in a row).
- :func:`query_status` looks up once (same retries) and classifies, for the resume
  decision; ``JobNotFoundError`` is returned as ``StatusKind.NOT_FOUND``.

Waits: :func:`backoff_ceiling` doubles from ``interval`` with each trouble in a row (a
lookup error or an unknown status) up to ``max_interval``; the exponent is capped, so
any number of troubles is safe. The wait is drawn from [ceiling / 2, ceiling]; an
active answer resets it; no wait runs past the deadline. Each lookup error is logged;
unknown statuses the 1st, 2nd, 4th, 8th... time in a row.

What it does not do: cancel a job at timeout, decide which errors are transient
(``_transient`` does), or validate its numbers (``_job_knobs`` does, for the mixin).
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Final

import tenacity

from resumable._errors import (
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobStatusUnknownError,
    JobTimeoutError,
    ResumableError,
)
from resumable._job_decision import StatusKind
from resumable._job_hooks import call_predicate, hook_error
from resumable._transient import is_transient_error

__all__ = [
    "DEFAULT_MAX_UNKNOWN",
    "QUERY_ATTEMPTS",
    "PollStep",
    "backoff_ceiling",
    "is_transient_error",
    "lookup_status",
    "next_poll_step",
    "poll_until_done",
    "query_status",
]

_log = logging.getLogger("resumable.jobs")
Lookup = Callable[[], Any]
Classify = Callable[[Any], StatusKind]
Transient = Callable[[BaseException], bool]
Sleep = Callable[[float], None]
Clock = Callable[[], float]

#: Lookup attempts of the one status query that decides how to resume.
QUERY_ATTEMPTS: Final = 5
#: Unknown answers in a row that end a poll without ``timeout``.
DEFAULT_MAX_UNKNOWN: Final = 30
_MAX_EXPONENT: Final = 60  # 2**60 times any interval is past any cap


class PollStep(enum.Enum):
    """What a poll does after one classified answer."""

    DONE = "done"                    # succeeded: return the status
    FAIL = "fail"                    # failed: JobFailedError
    NOT_FOUND = "not_found"          # JobNotFoundError
    WAIT = "wait"                    # active: ask again after interval
    BACK_OFF = "back_off"            # unknown: ask again after a backoff
    TIMED_OUT = "timed_out"          # still active at the timeout: JobTimeoutError
    GIVE_UP_UNKNOWN = "give_up"      # still unknown: JobStatusUnknownError


def next_poll_step(kind: StatusKind, *, unknown_in_a_row: int, max_unknown: int,
                   timed_out: bool | None) -> PollStep:
    """The next step of a poll after an answer of ``kind`` (pure).

    ``timed_out`` is None without a timeout: then ``max_unknown`` unknown answers in a
    row end the poll; with one, the timeout does.
    """
    if kind is StatusKind.SUCCEEDED:
        return PollStep.DONE
    if kind is StatusKind.FAILED:
        return PollStep.FAIL
    if kind is StatusKind.NOT_FOUND:
        return PollStep.NOT_FOUND
    if kind is StatusKind.ACTIVE:
        return PollStep.TIMED_OUT if timed_out else PollStep.WAIT
    if timed_out or (timed_out is None and unknown_in_a_row >= max_unknown):
        return PollStep.GIVE_UP_UNKNOWN
    return PollStep.BACK_OFF


def backoff_ceiling(interval: float, max_interval: float, troubles: int) -> float:
    """The longest wait after ``troubles`` troubles in a row (0: ``interval``)."""
    if troubles <= 0:
        return interval
    exponent = min(troubles - 1, _MAX_EXPONENT)
    return min(max(interval, max_interval), interval * 2.0 ** exponent)


class _Pacing:
    """The waits of one poll or query: interval, backoff, deadline, sleep and clock."""

    def __init__(self, interval: float, max_interval: float, timeout: float | None,
                 sleep: Sleep, clock: Clock) -> None:
        self.interval, self.max_interval = interval, max_interval
        self.sleep, self.clock = sleep, clock
        self.deadline = None if timeout is None else clock() + timeout
        self.troubles = 0

    def timed_out(self) -> bool | None:
        """None without a deadline, else whether it has passed."""
        return None if self.deadline is None else self.clock() >= self.deadline

    def _bounded(self, seconds: float) -> float:
        if self.deadline is None:
            return seconds
        return max(0.0, min(seconds, self.deadline - self.clock()))

    def calm(self) -> float:
        """The wait after an active answer (resets the backoff)."""
        self.troubles = 0
        return self._bounded(self.interval)

    def trouble(self) -> float:
        """The wait after a lookup error or an unknown answer (grows the backoff)."""
        self.troubles += 1
        ceiling = backoff_ceiling(self.interval, self.max_interval, self.troubles)
        return self._bounded(random.uniform(ceiling / 2, ceiling))


class _PastDeadline(tenacity.stop.stop_base):
    def __init__(self, pacing: _Pacing) -> None:
        self.pacing = pacing

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return bool(self.pacing.timed_out())


def _retryable(error: BaseException) -> bool:
    # Only transient errors get out of ``attempt`` as something else than ResumableError.
    return isinstance(error, Exception) and not isinstance(error, ResumableError)


def _log_lookup_error(hook: str) -> Callable[[tenacity.RetryCallState], None]:
    def log(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        _log.warning("%s failed (%s: %s); asking again", hook, type(error).__name__, error)

    return log


def _lookup(lookup: Lookup, pacing: _Pacing, *, max_errors: int, is_transient: Transient,
            hook: str, external_id: Any) -> Any:
    def attempt() -> Any:
        try:
            return lookup()
        except ResumableError:
            raise
        except Exception as exc:
            if call_predicate("is_transient_error", is_transient, exc):
                raise
            raise hook_error(hook, exc, external_id=external_id) from exc

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(_retryable),
        wait=lambda state: pacing.trouble(),
        stop=tenacity.stop_after_attempt(max_errors) | _PastDeadline(pacing),
        sleep=pacing.sleep, before_sleep=_log_lookup_error(hook), reraise=True)
    return retrying(attempt)


def lookup_status(lookup: Lookup, *, interval: float, timeout: float | None,
                  max_interval: float, max_errors: int, external_id: Any = None,
                  is_transient: Transient = is_transient_error, hook: str = "get_job_status",
                  sleep: Sleep = time.sleep, clock: Clock = time.monotonic) -> Any:
    """``lookup()``, with transient errors retried (see the module docstring)."""
    pacing = _Pacing(interval, max_interval, timeout, sleep, clock)
    return _lookup(lookup, pacing, max_errors=max_errors, is_transient=is_transient,
                   hook=hook, external_id=external_id)


def _end_of_poll(step: PollStep, *, external_id: Any, status: Any, timeout: float | None,
                 unknown: int) -> JobError:
    if step is PollStep.FAIL:
        return JobFailedError(f"job {external_id!r} failed with status {status!r}",
                              external_id=external_id, status=status)
    if step is PollStep.NOT_FOUND:
        return JobNotFoundError(f"job {external_id!r} is not known to the system",
                                external_id=external_id)
    if step is PollStep.TIMED_OUT:
        return JobTimeoutError(f"job {external_id!r} still active ({status!r}) after "
                               f"{timeout} s; it was not cancelled",
                               external_id=external_id, status=status)
    how_long = (f"for {timeout} s (poll_timeout)" if timeout is not None else
                f"for {unknown} answers in a row (max_unknown_statuses)")
    return JobStatusUnknownError(
        f"job {external_id!r} status {status!r} is neither active, succeeded nor failed, "
        f"and stayed so {how_long}", external_id=external_id, status=status)


def poll_until_done(lookup: Lookup, classify: Classify, *, external_id: Any, interval: float,
                    timeout: float | None, max_interval: float, max_errors: int = 10,
                    max_unknown: int = DEFAULT_MAX_UNKNOWN,
                    is_transient: Transient = is_transient_error, hook: str = "get_job_status",
                    sleep: Sleep = time.sleep, clock: Clock = time.monotonic) -> Any:
    """Look the status up until the job succeeds (its raw status is returned) or the poll
    ends with an error (see the module docstring)."""
    pacing = _Pacing(interval, max_interval, timeout, sleep, clock)
    unknown = 0
    while True:
        status = _lookup(lookup, pacing, max_errors=max_errors, is_transient=is_transient,
                         hook=hook, external_id=external_id)
        kind = classify(status)
        unknown = unknown + 1 if kind is StatusKind.UNKNOWN else 0
        step = next_poll_step(kind, unknown_in_a_row=unknown, max_unknown=max_unknown,
                              timed_out=pacing.timed_out())
        if step is PollStep.DONE:
            return status
        if step is PollStep.WAIT:
            pacing.sleep(pacing.calm())
        elif step is PollStep.BACK_OFF:
            if unknown & (unknown - 1) == 0:  # the 1st, 2nd, 4th, 8th... in a row
                _log.warning("job %r status %r is neither active, succeeded nor failed; "
                             "asking again (%d in a row)", external_id, status, unknown)
            pacing.sleep(pacing.trouble())
        else:
            raise _end_of_poll(step, external_id=external_id, status=status,
                               timeout=timeout, unknown=unknown)


def query_status(lookup: Lookup, classify: Classify, *, interval: float,
                 timeout: float | None, max_interval: float, max_errors: int = QUERY_ATTEMPTS,
                 external_id: Any = None, is_transient: Transient = is_transient_error,
                 hook: str = "get_job_status", sleep: Sleep = time.sleep,
                 clock: Clock = time.monotonic) -> tuple[StatusKind, Any]:
    """Look the status up once (transient errors retried) and classify it.

    ``JobNotFoundError`` from the lookup is returned as ``(StatusKind.NOT_FOUND, None)``.
    """
    try:
        status = lookup_status(lookup, interval=interval, timeout=timeout,
                               max_interval=max_interval, max_errors=max_errors,
                               external_id=external_id, is_transient=is_transient, hook=hook,
                               sleep=sleep, clock=clock)
    except JobNotFoundError:
        return StatusKind.NOT_FOUND, None
    return classify(status), status

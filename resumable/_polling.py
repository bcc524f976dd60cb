"""Polling an external job's status: a fixed interval while it is active, a bounded and
jittered exponential backoff after transient lookup errors and unknown statuses.

How it works: one poll is a tenacity retry loop whose every attempt looks the status up
once. :class:`_Poll` holds what a poll knows (its pacing, its counters) and builds its
strategy, the ``retry``/``wait``/``stop``/``before_sleep`` objects; the sync functions
hand them to ``tenacity.Retrying``, the async ones (:func:`apoll_until_done`, for the
deferrable trigger) the *same* objects to ``tenacity.AsyncRetrying``. Only the
attempt's one call (``lookup()`` or ``await lookup()``) differs; nothing else is written
twice. An attempt:

- calls ``lookup()`` (the operator's ``get_job_status``, or ``aget_job_status``). An
  error ``is_transient`` calls transient is retried, at most ``max_errors`` in a row and
  never past the deadline, then re-raised. Any other error ends the poll at once:
  resumable's own (``JobNotFoundError``...) as they are, anything else as
  ``JobHookError`` naming the hook, raised ``from`` the original.
- classifies the answer with ``classify`` (the operator's predicates; their errors are
  never retried) and lets the pure :func:`next_poll_step` say what comes next: the raw
  status (succeeded), ``JobFailedError`` (failed), another look after ``interval``
  (active) or after a backoff (unknown), or the end: ``JobTimeoutError`` (still active
  at ``timeout``), ``JobStatusUnknownError`` (still unknown at ``timeout``; with no
  timeout, after ``max_unknown`` unknown answers in a row).

:func:`lookup_status` is one lookup with the same retries (no classification);
:func:`query_status` also classifies it, for the resume decision, and returns
``JobNotFoundError`` as ``StatusKind.NOT_FOUND``.

Waits: :func:`backoff_ceiling` doubles from ``interval`` with each trouble in a row (a
lookup error or an unknown status) up to ``max_interval``; the exponent is capped, so
any number of troubles is safe. The wait is drawn from [ceiling / 2, ceiling]; an
active answer resets it; no wait runs past the deadline. The deadline is ``clock()`` +
``timeout`` when the poll starts, or the ``deadline`` given on that clock (the trigger
passes a wall-clock deadline fixed when the task deferred, so a triggerer restart does
not extend it). Each lookup error is logged; unknown statuses the 1st, 2nd, 4th, 8th...
time in a row.

What it does not do: cancel a job at timeout, decide which errors are transient
(``_transient`` does), or validate its numbers (``_job_knobs`` does, for the mixin).
Limits: counters (errors, unknowns in a row) live in one poll: a new poll (a retry, a
restarted trigger) starts them afresh.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
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
    "apoll_until_done",
    "backoff_ceiling",
    "end_of_poll_error",
    "is_transient_error",
    "lookup_status",
    "next_poll_step",
    "poll_until_done",
    "query_status",
]

_log = logging.getLogger("resumable.jobs")
Lookup = Callable[[], Any]
AsyncLookup = Callable[[], Awaitable[Any] | Any]
Classify = Callable[[Any], StatusKind]
Transient = Callable[[BaseException], bool]
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]
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


def end_of_poll_error(step: PollStep, *, external_id: Any, status: Any,
                      timeout: float | None, unknown: int) -> JobError:
    """The error a poll ending with ``step`` raises (FAIL, NOT_FOUND, TIMED_OUT, GIVE_UP)."""
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


class _Again(enum.Enum):
    """An attempt's answer that asks for another attempt, and after which wait."""

    CALM = "calm"          # active: after interval (resets the backoff)
    BACK_OFF = "back_off"  # unknown: after a backoff


class _Poll:
    """One poll: its waits, its counters, and the tenacity strategy both loops share."""

    def __init__(self, classify: Classify | None, *, interval: float, max_interval: float,
                 timeout: float | None, deadline: float | None, clock: Clock,
                 max_errors: int, max_unknown: int, is_transient: Transient, hook: str,
                 external_id: Any) -> None:
        self.classify, self.clock = classify, clock
        self.interval, self.max_interval, self.timeout = interval, max_interval, timeout
        self.deadline = deadline if deadline is not None else (
            None if timeout is None else clock() + timeout)
        self.max_errors, self.max_unknown = max_errors, max_unknown
        self.is_transient, self.hook, self.external_id = is_transient, hook, external_id
        self.troubles = 0      # lookup errors and unknown answers in a row (the backoff)
        self.errors = 0        # lookup errors in a row
        self.unknown = 0       # unknown answers in a row
        self.transient: BaseException | None = None  # the error being retried, if any

    # -- pacing ----------------------------------------------------------------------

    def timed_out(self) -> bool | None:
        """None without a deadline, else whether it has passed."""
        return None if self.deadline is None else self.clock() >= self.deadline

    def _bounded(self, seconds: float) -> float:
        if self.deadline is None:
            return seconds
        return max(0.0, min(seconds, self.deadline - self.clock()))

    def _calm(self) -> float:
        self.troubles = 0
        return self._bounded(self.interval)

    def _trouble(self) -> float:
        self.troubles += 1
        ceiling = backoff_ceiling(self.interval, self.max_interval, self.troubles)
        return self._bounded(random.uniform(ceiling / 2, ceiling))

    # -- one attempt, around the lookup call -------------------------------------------

    def lookup_failed(self, error: Exception) -> None:
        """Called in the attempt's ``except``: return to let it re-raise ``error`` (and
        retry it if transient); raise ``JobHookError`` from it if it is not transient."""
        if isinstance(error, ResumableError):
            return
        if not call_predicate("is_transient_error", self.is_transient, error):
            raise hook_error(self.hook, error, external_id=self.external_id) from error
        self.errors += 1
        self.transient = error

    def answered(self, status: Any) -> Any:
        """The status once done; an ``_Again`` to ask again; raises when the poll ends."""
        self.errors, self.transient = 0, None
        if self.classify is None:  # a single lookup
            return status
        kind = self.classify(status)
        self.unknown = self.unknown + 1 if kind is StatusKind.UNKNOWN else 0
        step = next_poll_step(kind, unknown_in_a_row=self.unknown,
                              max_unknown=self.max_unknown, timed_out=self.timed_out())
        if step is PollStep.DONE:
            return status
        if step is PollStep.WAIT:
            return _Again.CALM
        if step is PollStep.BACK_OFF:
            if self.unknown & (self.unknown - 1) == 0:  # the 1st, 2nd, 4th, 8th... in a row
                _log.warning("job %r status %r is neither active, succeeded nor failed; "
                             "asking again (%d in a row)", self.external_id, status,
                             self.unknown)
            return _Again.BACK_OFF
        raise end_of_poll_error(step, external_id=self.external_id, status=status,
                                timeout=self.timeout, unknown=self.unknown)

    # -- the strategy ----------------------------------------------------------------

    def _retry(self, state: tenacity.RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None:  # pragma: no cover - tenacity always sets it
            return False
        if outcome.failed:
            return outcome.exception() is self.transient
        return isinstance(outcome.result(), _Again)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        calm = outcome is not None and not outcome.failed and outcome.result() is _Again.CALM
        return self._calm() if calm else self._trouble()

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        # Only lookup errors stop here; answers end the poll by raising from ``answered``.
        outcome = state.outcome
        return (outcome is not None and outcome.failed
                and (self.errors >= self.max_errors or bool(self.timed_out())))

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome and state.outcome.failed else None
        if error is not None:
            _log.warning("%s failed (%s: %s); asking again", self.hook, type(error).__name__,
                         error)

    def strategy(self) -> dict[str, Any]:
        """The keyword arguments of ``tenacity.Retrying`` and ``AsyncRetrying`` alike."""
        return {"retry": self._retry, "wait": self._wait, "stop": self._stop,
                "before_sleep": self._before_sleep, "reraise": True}


def _run(poll: _Poll, lookup: Lookup, sleep: Sleep) -> Any:
    def attempt() -> Any:
        try:
            status = lookup()
        except Exception as exc:
            poll.lookup_failed(exc)
            raise
        return poll.answered(status)

    return tenacity.Retrying(sleep=sleep, **poll.strategy())(attempt)


async def _arun(poll: _Poll, lookup: AsyncLookup, sleep: AsyncSleep) -> Any:
    async def attempt() -> Any:
        try:
            status = lookup()
            if inspect.isawaitable(status):
                status = await status
        except Exception as exc:
            poll.lookup_failed(exc)
            raise
        return poll.answered(status)

    return await tenacity.AsyncRetrying(sleep=sleep, **poll.strategy())(attempt)


def lookup_status(lookup: Lookup, *, interval: float, timeout: float | None,
                  max_interval: float, max_errors: int, external_id: Any = None,
                  is_transient: Transient = is_transient_error, hook: str = "get_job_status",
                  sleep: Sleep = time.sleep, clock: Clock = time.monotonic) -> Any:
    """``lookup()``, with transient errors retried (see the module docstring)."""
    poll = _Poll(None, interval=interval, max_interval=max_interval, timeout=timeout,
                 deadline=None, clock=clock, max_errors=max_errors,
                 max_unknown=DEFAULT_MAX_UNKNOWN, is_transient=is_transient, hook=hook,
                 external_id=external_id)
    return _run(poll, lookup, sleep)


def poll_until_done(lookup: Lookup, classify: Classify, *, external_id: Any, interval: float,
                    timeout: float | None, max_interval: float, max_errors: int = 10,
                    max_unknown: int = DEFAULT_MAX_UNKNOWN,
                    is_transient: Transient = is_transient_error, hook: str = "get_job_status",
                    sleep: Sleep = time.sleep, clock: Clock = time.monotonic,
                    deadline: float | None = None) -> Any:
    """Look the status up until the job succeeds (its raw status is returned) or the poll
    ends with an error (see the module docstring)."""
    poll = _Poll(classify, interval=interval, max_interval=max_interval, timeout=timeout,
                 deadline=deadline, clock=clock, max_errors=max_errors,
                 max_unknown=max_unknown, is_transient=is_transient, hook=hook,
                 external_id=external_id)
    return _run(poll, lookup, sleep)


async def apoll_until_done(lookup: AsyncLookup, classify: Classify, *, external_id: Any,
                           interval: float, timeout: float | None, max_interval: float,
                           max_errors: int = 10, max_unknown: int = DEFAULT_MAX_UNKNOWN,
                           is_transient: Transient = is_transient_error,
                           hook: str = "aget_job_status", sleep: AsyncSleep = asyncio.sleep,
                           clock: Clock = time.monotonic,
                           deadline: float | None = None) -> Any:
    """:func:`poll_until_done` for an async ``lookup`` (a coroutine function; a plain
    function's answer is taken as it is), sleeping with ``await sleep(...)``."""
    poll = _Poll(classify, interval=interval, max_interval=max_interval, timeout=timeout,
                 deadline=deadline, clock=clock, max_errors=max_errors,
                 max_unknown=max_unknown, is_transient=is_transient, hook=hook,
                 external_id=external_id)
    return await _arun(poll, lookup, sleep)


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

"""Polling an external job's status with tenacity: fixed interval while active, bounded
exponential backoff with jitter on lookup errors and unknown statuses.

How it works: :func:`poll_until_done` calls ``check()`` (which asks the job's status and
classifies it) under a tenacity ``Retrying``: an active job is asked again after
``interval`` seconds; an unknown status or a transient lookup error (``is_transient``
says which; ``JobNotFoundError``/``JobFailedError`` never are) is asked again after an
exponentially growing, jittered wait capped at ``max_interval``, for at most
``max_errors`` lookup errors in a row. Success returns the raw status; failure raises
``JobFailedError``; ``poll_timeout`` ends it with ``JobTimeoutError`` (still active),
``JobStatusUnknownError`` (still unknown) or the last lookup error.
:func:`query_status` asks once, retrying only lookup errors, for the resume decision.

What it does not do: cancel a job at timeout, or sleep anywhere but inside tenacity.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import tenacity

from resumable._errors import (
    JobFailedError,
    JobNotFoundError,
    JobStatusUnknownError,
    JobTimeoutError,
)
from resumable._job_decision import StatusKind

__all__ = ["is_transient_error", "poll_until_done", "query_status"]

_log = logging.getLogger("resumable.jobs")
Check = Callable[[], tuple[StatusKind, Any]]
Transient = Callable[[BaseException], bool]
_QUERY_ATTEMPTS = 5
_PERMANENT_HTTP = frozenset(range(400, 500)) - {408, 425, 429}


def is_transient_error(error: BaseException) -> bool:
    """Default test of a status-lookup error: transient unless it is an HTTP 4xx answer
    (but 408, 425 and 429) from httpx or requests; connection errors and timeouts are."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return not (isinstance(status, int) and status in _PERMANENT_HTTP)


class _StillActive(Exception):
    def __init__(self, status: Any) -> None:
        self.status = status


class _StillUnknown(_StillActive):
    pass


class _PollWait:
    """``interval`` after an active status; exponential backoff, capped, after trouble."""

    def __init__(self, interval: float, max_interval: float) -> None:
        self.interval = interval
        self.max_interval = max(interval, max_interval)
        self.troubles = 0

    def __call__(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if type(error) is _StillActive:
            self.troubles = 0
            return self.interval
        self.troubles += 1
        ceiling = min(self.max_interval, self.interval * 2 ** (self.troubles - 1))
        return random.uniform(ceiling / 2, ceiling)


def _retry_if(is_transient: Transient) -> tenacity.retry_base:
    def retryable(error: BaseException) -> bool:
        if isinstance(error, _StillActive):
            return True
        if isinstance(error, (JobFailedError, JobNotFoundError)):
            return False
        return is_transient(error)

    return tenacity.retry_if_exception(retryable)


def _log_trouble(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, _StillUnknown):
        _log.warning("job status %r is neither active, succeeded nor failed; asking again",
                     error.status)
    elif error is not None and not isinstance(error, _StillActive):
        _log.warning("job status lookup failed (%s: %s); retrying",
                     type(error).__name__, error)


def _stop(timeout: float | None, max_errors: int) -> tenacity.stop.stop_base:
    stop: tenacity.stop.stop_base = _ErrorsInARow(max_errors)
    return stop if timeout is None else stop | tenacity.stop_after_delay(timeout)


class _ErrorsInARow(tenacity.stop.stop_base):
    """Stop after ``limit`` lookup errors in a row; a status answer resets the count."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        if error is None or isinstance(error, _StillActive):
            self.count = 0
            return False
        self.count += 1
        return self.count >= self.limit


def poll_until_done(check: Check, *, external_id: Any, interval: float,
                    timeout: float | None, max_interval: float, max_errors: int = 10,
                    is_transient: Transient = is_transient_error) -> Any:
    """Ask ``check()`` until the job succeeds (its raw status is returned) or fails."""

    def attempt() -> Any:
        kind, status = check()
        if kind is StatusKind.SUCCEEDED:
            return status
        if kind is StatusKind.FAILED:
            raise JobFailedError(f"job {external_id!r} failed with status {status!r}",
                                 external_id=external_id, status=status)
        if kind is StatusKind.NOT_FOUND:
            raise JobNotFoundError(f"job {external_id!r} is not known to the system",
                                   external_id=external_id)
        raise (_StillActive if kind is StatusKind.ACTIVE else _StillUnknown)(status)

    retrying = tenacity.Retrying(retry=_retry_if(is_transient),
                                 wait=_PollWait(interval, max_interval),
                                 stop=_stop(timeout, max_errors), before_sleep=_log_trouble,
                                 reraise=True)
    try:
        return retrying(attempt)
    except _StillUnknown as exc:
        raise JobStatusUnknownError(
            f"job {external_id!r} status {exc.status!r} stayed unknown for {timeout} s",
            external_id=external_id, status=exc.status) from None
    except _StillActive as exc:
        raise JobTimeoutError(
            f"job {external_id!r} still active ({exc.status!r}) after {timeout} s; "
            "it was not cancelled", external_id=external_id, status=exc.status) from None


def query_status(check: Check, *, interval: float, timeout: float | None,
                 max_interval: float, max_errors: int = _QUERY_ATTEMPTS,
                 is_transient: Transient = is_transient_error) -> tuple[StatusKind, Any]:
    """Ask ``check()`` once, retrying lookup errors a few times with backoff.

    ``JobNotFoundError`` from the lookup is returned as ``StatusKind.NOT_FOUND``.
    """

    def attempt() -> tuple[StatusKind, Any]:
        try:
            return check()
        except JobNotFoundError:
            return StatusKind.NOT_FOUND, None

    retrying = tenacity.Retrying(retry=_retry_if(is_transient),
                                 wait=_PollWait(interval, max_interval),
                                 stop=_stop(timeout, max_errors), before_sleep=_log_trouble,
                                 reraise=True)
    return retrying(attempt)

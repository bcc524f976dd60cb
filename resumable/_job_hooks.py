"""Calling the operator's own decision hooks, so that an error in one is named, not retried.

How it works: :func:`call_predicate` calls one predicate (``is_job_active``,
``is_transient_error``...) and turns any exception it raises into a
:class:`~resumable._errors.JobHookError` that names it (``is_job_active raised
KeyError: 'state'``), raised ``from`` the original. :func:`classify_status` asks the three
status predicates in order (active, succeeded, failed) that way and returns the
:class:`~resumable._job_decision.StatusKind`; a status none claims is ``UNKNOWN``.
:func:`hook_error` builds the same error for ``get_job_status`` (``_polling`` raises it).

resumable's own errors (``JobNotFoundError``...) raised inside a hook pass through as
they are: they are deliberate. ``KeyboardInterrupt`` and ``SystemExit`` do too.

What it does not do: retry anything (``_polling`` retries transient lookup errors and
nothing else), or wrap errors of ``submit_job``, ``find_job``, ``get_job_result`` or
``on_job_finished``, which propagate unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from resumable._errors import JobHookError, ResumableError
from resumable._job_decision import StatusKind

__all__ = ["call_predicate", "classify_status", "hook_error"]

T = TypeVar("T")
Predicate = Callable[[T], bool]


def hook_error(hook: str, error: BaseException, *, external_id: Any = None,
               status: Any = None) -> JobHookError:
    """The error that ends a try because ``hook`` raised ``error`` (raise it ``from`` error)."""
    detail = f": {error}" if str(error) else ""
    where = f" (status {status!r:.80})" if status is not None else ""
    return JobHookError(f"{hook} raised {type(error).__name__}{detail}{where}", hook=hook,
                        external_id=external_id, status=status)


def call_predicate(hook: str, predicate: Predicate[T], value: T) -> bool:
    """``bool(predicate(value))``; an exception becomes a ``JobHookError`` naming ``hook``."""
    try:
        return bool(predicate(value))
    except ResumableError:
        raise
    except Exception as exc:
        status = value if not isinstance(value, BaseException) else None
        raise hook_error(hook, exc, status=status) from exc


def classify_status(status: Any, *, is_active: Predicate[Any], is_succeeded: Predicate[Any],
                    is_failed: Predicate[Any]) -> StatusKind:
    """The kind of ``status`` by the predicates, asked in order, each at most once."""
    if call_predicate("is_job_active", is_active, status):
        return StatusKind.ACTIVE
    if call_predicate("is_job_succeeded", is_succeeded, status):
        return StatusKind.SUCCEEDED
    if call_predicate("is_job_failed", is_failed, status):
        return StatusKind.FAILED
    return StatusKind.UNKNOWN

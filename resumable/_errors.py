"""The resumable package's exceptions: one tree, rooted at :class:`ResumableError`.

::

    ResumableError
     ├── NoTaskStoreError       (also LookupError)   no task store in the context
     ├── CheckpointMismatchError (also LookupError)  the committed item is not in the iterable
     ├── CursorError                                 a row's cursor cannot be used
     │    ├── MissingCursorError (also LookupError)  a row has no cursor (on_missing_cursor="raise")
     │    ├── CursorTypeError    (also TypeError)    a cursor is not of the window's type
     │    └── CursorOrderError   (also ValueError)   rows break the row_order they declared
     ├── WatermarkConflictError                      the cursor kept changing under compare_and_set
     ├── JobConfigurationError  (also ValueError)    a mixin knob has a bad value
     │    └── JobConfigurationTypeError              a knob has the wrong type (also TypeError)
     ├── JobError                                    an external job went wrong
     │    ├── JobNotFoundError                       the system no longer knows the job ID
     │    ├── JobFailedError                         the job ended in a failed state
     │    ├── JobStatusUnknownError                  status claimed by no predicate, for too long
     │    ├── JobTimeoutError    (also TimeoutError) still active at poll_timeout
     │    ├── TooManyResubmitsError                  the job vanished again and again
     │    ├── JobHookError                           your get_job_status or a predicate raised
     │    └── JobIdError         (also TypeError)    submit_job/find_job gave an unstorable ID
     └── (store errors come from store_client.StoreError and are not wrapped)

``JobNotFoundError`` is raised by *your* ``get_job_status`` hook to say the external system
has no such job; the mixin then resubmits with a new token, with a warning. Any other
error of that hook that is not transient (``resumable._transient``), and any error of a
status predicate, ends the try at once as ``JobHookError``, raised ``from`` the original.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CheckpointMismatchError",
    "CursorError",
    "CursorOrderError",
    "CursorTypeError",
    "JobConfigurationError",
    "JobConfigurationTypeError",
    "JobError",
    "JobFailedError",
    "JobHookError",
    "JobIdError",
    "JobNotFoundError",
    "JobStatusUnknownError",
    "JobTimeoutError",
    "MissingCursorError",
    "NoTaskStoreError",
    "ResumableError",
    "TooManyResubmitsError",
    "WatermarkConflictError",
]


class ResumableError(Exception):
    """Base class of every error raised by the resumable package."""


class NoTaskStoreError(ResumableError, LookupError):
    """Neither the context nor the environment gives a task store to keep state in."""


class JobError(ResumableError):
    """An external job went wrong. ``external_id`` and ``status`` say which and how."""

    def __init__(self, message: str, *, external_id: Any = None, status: Any = None) -> None:
        super().__init__(message)
        self.external_id = external_id
        self.status = status


class JobNotFoundError(JobError):
    """The external system does not know this job ID (raise it from ``get_job_status``)."""


class JobFailedError(JobError):
    """The external job reached a terminal state that is not success."""


class JobStatusUnknownError(JobError):
    """The job's status was claimed by none of the status predicates until ``poll_timeout``."""


class JobTimeoutError(JobError, TimeoutError):
    """The job was still active when ``poll_timeout`` ran out (it is not cancelled)."""


class TooManyResubmitsError(JobError):
    """The job disappeared after each of several resubmissions in one try."""


class JobHookError(JobError):
    """One of the operator's own hooks raised an error that is not worth retrying.

    ``hook`` names it (``get_job_status``, ``is_job_active``...); the original error is
    the ``__cause__``. A bug in a hook fails the try at once instead of being retried.
    """

    def __init__(self, message: str, *, hook: str, external_id: Any = None,
                 status: Any = None) -> None:
        super().__init__(message, external_id=external_id, status=status)
        self.hook = hook


class JobIdError(JobError, TypeError):
    """``submit_job`` (or ``find_job``) returned an ID the task store cannot hold.

    ``hook`` names the hook. The job may exist: the intent record (with its token) stays
    in the store, so the next try looks for the job with ``find_job`` or resubmits with
    the same token.
    """

    def __init__(self, message: str, *, hook: str, external_id: Any = None) -> None:
        super().__init__(message, external_id=external_id)
        self.hook = hook


class JobConfigurationError(ResumableError, ValueError):
    """A ``ResumableJobMixin`` knob has a bad value; ``knob`` and ``value`` say which.

    Raised when the operator is built (keywords) or when ``execute`` starts (class
    attributes), before the store is read or anything is submitted.
    """

    def __init__(self, message: str, *, knob: str, value: Any) -> None:
        super().__init__(message)
        self.knob = knob
        self.value = value


class JobConfigurationTypeError(JobConfigurationError, TypeError):
    """A ``ResumableJobMixin`` knob has the wrong type (a bool for a count, a str for seconds)."""


class CheckpointMismatchError(ResumableError, LookupError):
    """``Checkpoint.resume`` did not find the committed item in the iterable it was given.

    ``position`` is the committed position that was looked for. The iterable changed
    between tries (or the ``key`` function did); resuming anywhere would skip or redo
    work silently, so nothing is yielded. Clear the checkpoint to start over.
    """

    def __init__(self, message: str, *, position: Any = None) -> None:
        super().__init__(message)
        self.position = position


class CursorError(ResumableError):
    """A row's cursor value cannot be used by a watermark window."""


class MissingCursorError(CursorError, LookupError):
    """A row has no cursor value and ``on_missing_cursor="raise"`` (the default)."""


class CursorTypeError(CursorError, TypeError):
    """A cursor value is not of the window's cursor type (or is a naive datetime)."""


class CursorOrderError(CursorError, ValueError):
    """Rows came out of the ``row_order`` declared: stopping early could skip rows."""


class WatermarkConflictError(ResumableError):
    """The stored cursor changed under every ``compare_and_set`` attempt; nothing was stored."""

"""The resumable package's exceptions: one tree, rooted at :class:`ResumableError`.

::

    ResumableError
     ├── NoTaskStoreError       (also LookupError)   no task store in the context
     ├── JobError                                    an external job went wrong
     │    ├── JobNotFoundError                       the system no longer knows the job ID
     │    ├── JobFailedError                         the job ended in a failed state
     │    ├── JobStatusUnknownError                  status claimed by no predicate until timeout
     │    ├── JobTimeoutError    (also TimeoutError) still active at poll_timeout
     │    └── TooManyResubmitsError                  the job vanished again and again
     └── (store errors come from store_client.StoreError and are not wrapped)

``JobNotFoundError`` is raised by *your* ``get_job_status`` hook to say the external system
has no such job; the mixin then resubmits with a new token, with a warning.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobStatusUnknownError",
    "JobTimeoutError",
    "NoTaskStoreError",
    "ResumableError",
    "TooManyResubmitsError",
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

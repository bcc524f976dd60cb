"""resumable: long-running and incremental tasks that survive crashes and retries.

- :class:`ResumableJobMixin`: an operator's external job (Spark, EMR, Databricks...)
  is reattached to after a worker crash instead of being submitted twice.
- :func:`checkpoint`: a paginated or batched function resumes after the last position
  it committed (:class:`Checkpoint`), not from the first page.
- :func:`watermark`: an incremental load's cursor advances only when the load returned,
  to the largest cursor it saw, never backwards (:class:`Window`).
- :func:`open_checkpoint` and :func:`open_window`: the same without a decorator.
- :func:`set_metrics_hook`: the mixin's ``resumable_job.*`` counters, outside Airflow too.

Errors form one tree under :class:`ResumableError` (see ``resumable._errors``).
"""

import logging

from resumable._checkpoint import Checkpoint, open_checkpoint
from resumable._decorators import checkpoint, watermark
from resumable._errors import (
    CheckpointMismatchError,
    CursorError,
    CursorOrderError,
    CursorTypeError,
    JobConfigurationError,
    JobConfigurationTypeError,
    JobError,
    JobFailedError,
    JobHookError,
    JobIdError,
    JobNotFoundError,
    JobStatusUnknownError,
    JobTimeoutError,
    MissingCursorError,
    NoTaskStoreError,
    ResumableError,
    TooManyResubmitsError,
    WatermarkConflictError,
)
from resumable._job_mixin import ResumableJobMixin, idempotency_token_for
from resumable._observe import set_metrics_hook
from resumable._resume_api import ResumeAction, ResumeDecision
from resumable._window import Window, open_window

logging.getLogger("resumable").addHandler(logging.NullHandler())

__all__ = [
    "Checkpoint",
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
    "ResumableJobMixin",
    "ResumeAction",
    "ResumeDecision",
    "TooManyResubmitsError",
    "WatermarkConflictError",
    "Window",
    "checkpoint",
    "idempotency_token_for",
    "open_checkpoint",
    "open_window",
    "set_metrics_hook",
    "watermark",
]

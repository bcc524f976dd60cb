"""resumable: long-running and incremental tasks that survive crashes and retries.

- :class:`ResumableJobMixin`: an operator's external job (Spark, EMR, Databricks...)
  is reattached to after a worker crash instead of being submitted twice.

Errors form one tree under :class:`ResumableError` (see ``resumable._errors``).
"""

import logging

from resumable._errors import (
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobStatusUnknownError,
    JobTimeoutError,
    NoTaskStoreError,
    ResumableError,
    TooManyResubmitsError,
)
from resumable._job_mixin import ResumableJobMixin, idempotency_token_for

logging.getLogger("resumable").addHandler(logging.NullHandler())

__all__ = [
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobStatusUnknownError",
    "JobTimeoutError",
    "NoTaskStoreError",
    "ResumableError",
    "ResumableJobMixin",
    "TooManyResubmitsError",
    "idempotency_token_for",
]

"""An operator for overlapping-try trials: no find_job, no token dedupe, a slow submit.

Run in a worker process by :func:`tests.support.worker.start_worker`
(``tests.support.overlap_worker:OverlapOperator``) with the keywords ``jobs_path``,
``scope``, ``duration`` (seconds each job runs), ``start_delay`` (seconds to sleep before
``execute`` starts, so two processes overlap in a planned way), ``submit_delay`` (seconds
``submit_job`` takes before the job system records the job: the window in which a second
try could submit too) and ``claim_timeout``.

Only the task store's claim can keep two such tries to one job: the job system
(:class:`~tests.support.crash_jobs.CrashJobs`) makes a new job for every ``submit``.
"""

from __future__ import annotations

import time
from typing import Any

from resumable import ResumableJobMixin
from tests.support.crash_jobs import CrashJobs

__all__ = ["OverlapOperator"]


class OverlapOperator(ResumableJobMixin):
    """Submits to :class:`CrashJobs`; nothing but the claim prevents a duplicate."""

    external_id_key = "remote_job_id"
    active_states = frozenset({"RUNNING"})
    succeeded_states = frozenset({"SUCCESS"})
    poll_interval = 0.02
    poll_max_interval = 0.2
    poll_timeout = 60.0

    def __init__(self, *, jobs_path: str, scope: str, duration: float, start_delay: float,
                 submit_delay: float, claim_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs = CrashJobs(jobs_path)
        self.scope = scope
        self.duration = duration
        self.start_delay = start_delay
        self.submit_delay = submit_delay
        self.claim_timeout = claim_timeout

    def execute(self, context: Any) -> Any:
        time.sleep(self.start_delay)
        return super().execute(context)

    def submit_job(self, context: Any) -> int:
        time.sleep(self.submit_delay)
        return self.jobs.submit(self.scope, self.idempotency_token, self.duration)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.jobs.status(external_id)

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        return {"job_id": external_id}

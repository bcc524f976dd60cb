"""Two operators on :class:`~tests.support.crash_jobs.CrashJobs` that SIGKILL themselves on cue.

Both run in a worker process started by :func:`tests.support.worker.start_worker`
(``tests.support.crash_worker:OurOperator`` or ``...:AirflowLogicOperator``) with the
keywords ``jobs_path`` (the job system's SQLite file), ``scope`` (a string naming the
trial's jobs) and ``duration`` (seconds each submitted job runs).

- :class:`OurOperator` is built on our :class:`resumable.ResumableJobMixin`, with
  ``find_job`` looking the idempotency token up in the job system.
- :class:`AirflowLogicOperator` re-implements, from its documented behaviour, the decision
  logic of Airflow 3.3.2's ``ResumableJobMixin.execute_resumable``: read the stored ID;
  if it is truthy ask its status: active -> poll and return what polling returns
  (None); succeeded -> return ``get_job_result``; anything else -> submit again. Then
  submit, store the ID with the default retention, poll, return ``get_job_result``.
  It makes exactly the same job-system calls as :class:`OurOperator`.

Crash injection: the environment variable ``CRASH_AT`` names where the process SIGKILLs
itself (``os.kill(os.getpid(), SIGKILL)``, a real kill: no cleanup, no ``finally``):

- ``before_submit``: in ``submit_job``, before the job system is called;
- ``after_submit``: in ``submit_job``, after the job system recorded (and committed)
  the job and before its ID is returned, i.e. between submit and persist;
- ``poll:N``: on the N-th status query of this process (before it is asked);
- empty or unset: never.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from resumable import ResumableJobMixin
from tests.support.crash_jobs import CrashJobs

__all__ = ["AirflowLogicOperator", "JobCalls", "OurOperator", "crash_point_from_env"]

EXTERNAL_ID_KEY = "remote_job_id"  # the key Airflow's mixin uses too
POLL_INTERVAL = 0.02


def crash_point_from_env() -> str:
    """``CRASH_AT`` from the environment, checked (a typo must not silently mean "never")."""
    point = os.environ.get("CRASH_AT", "").strip()
    if point in ("", "before_submit", "after_submit"):
        return point
    kind, _, n = point.partition(":")
    if kind == "poll" and n.isdigit() and int(n) >= 1:
        return point
    raise ValueError(f"CRASH_AT={point!r}: expected before_submit, after_submit or poll:N")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)  # pragma: no cover - SIGKILL is not deliverable late, but never go on


class JobCalls:
    """The job-system calls both operators make, with the crash points in them."""

    def __init__(self, jobs_path: str, scope: str, duration: float) -> None:
        self.jobs = CrashJobs(jobs_path)
        self.scope = scope
        self.duration = float(duration)
        self.crash_at = crash_point_from_env()
        self.status_queries = 0

    def submit(self, token: str | None) -> int:
        if self.crash_at == "before_submit":
            _die()
        job_id = self.jobs.submit(self.scope, token, self.duration)  # committed here
        if self.crash_at == "after_submit":
            _die()
        return job_id

    def status(self, job_id: int) -> str:
        self.status_queries += 1
        if self.crash_at == f"poll:{self.status_queries}":
            _die()
        return self.jobs.status(job_id)

    def find(self, token: str) -> int | None:
        return self.jobs.find(self.scope, token)


class OurOperator(ResumableJobMixin):
    """An operator on our mixin; ``find_job`` closes the submit/persist window."""

    external_id_key = EXTERNAL_ID_KEY
    poll_interval = POLL_INTERVAL
    poll_max_interval = 0.2
    poll_timeout = 120.0

    def __init__(self, *, jobs_path: str, scope: str, duration: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls = JobCalls(jobs_path, scope, duration)

    def submit_job(self, context: Any) -> int:
        return self.calls.submit(self.idempotency_token)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.calls.status(external_id)

    def is_job_active(self, status: Any) -> bool:
        return bool(status == "RUNNING")

    def is_job_succeeded(self, status: Any) -> bool:
        return bool(status == "SUCCESS")

    def find_job(self, token: str, context: Any) -> int | None:
        return self.calls.find(token)

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        return {"job_id": external_id}


class AirflowLogicOperator:
    """Airflow 3.3.2's ``execute_resumable`` decision logic (re-implemented, not imported)."""

    external_id_key = EXTERNAL_ID_KEY
    poll_interval = POLL_INTERVAL

    def __init__(self, *, jobs_path: str, scope: str, duration: float) -> None:
        self.calls = JobCalls(jobs_path, scope, duration)

    # -- the same hooks and job-system calls as OurOperator ------------------------------

    def submit_job(self, context: Any) -> int:
        return self.calls.submit(None)  # Airflow's mixin has no idempotency token

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.calls.status(external_id)

    def is_job_active(self, status: Any) -> bool:
        return bool(status == "RUNNING")

    def is_job_succeeded(self, status: Any) -> bool:
        return bool(status == "SUCCESS")

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        return {"job_id": external_id}

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        """Ask every ``poll_interval`` until the job is no longer active; returns None."""
        while True:
            status = self.get_job_status(external_id, context)
            if self.is_job_succeeded(status):
                return None
            if not self.is_job_active(status):
                raise RuntimeError(f"job {external_id} ended in state {status}")
            time.sleep(self.poll_interval)

    # -- the decision logic under test ------------------------------------------------

    def execute(self, context: Any) -> Any:
        return self.execute_resumable(context)

    def execute_resumable(self, context: Any) -> Any:
        store = context["task_store"]
        external_id = store.get(self.external_id_key)
        if external_id:  # truthiness: an ID of 0 or "" would count as absent
            status = self.get_job_status(external_id, context)
            if self.is_job_active(status):
                # Reconnect path: returns what polling returns (None), not the result.
                return self.poll_until_complete(external_id, context)
            if self.is_job_succeeded(status):
                return self.get_job_result(external_id, context)
            # Any other status (failed, unknown...) falls through to a new submission.
        external_id = self.submit_job(context)
        store.set(self.external_id_key, external_id)  # default retention, not NEVER_EXPIRE
        self.poll_until_complete(external_id, context)
        return self.get_job_result(external_id, context)

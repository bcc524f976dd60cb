"""An in-process job system and an operator on it, for the mixin's unit tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from resumable import JobNotFoundError, ResumableJobMixin
from store_client import TaskScope


@dataclass
class FakeJobs:
    """Jobs by ID; each job walks through a script of statuses, one per status query."""

    script: list[str] = field(default_factory=lambda: ["RUNNING", "SUCCESS"])
    submissions: list[tuple[int, str | None]] = field(default_factory=list)
    scripts: dict[int, list[str]] = field(default_factory=dict)
    dedupe_tokens: bool = False
    lookup_errors: int = 0
    #: What each of the ``lookup_errors`` raises (a transient error by default).
    lookup_error: Callable[[], BaseException] = lambda: ConnectionError(
        "status endpoint unreachable")
    status_calls: int = 0
    cancelled: list[int] = field(default_factory=list)
    forgotten: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def submit(self, token: str | None) -> int:
        with self.lock:
            if self.dedupe_tokens:
                for job_id, seen in self.submissions:
                    if seen == token:
                        return job_id
            job_id = 100 + len(self.submissions)
            self.submissions.append((job_id, token))
            self.scripts[job_id] = list(self.script)
            return job_id

    def status(self, job_id: int) -> str:
        with self.lock:
            self.status_calls += 1
            if self.lookup_errors:
                self.lookup_errors -= 1
                raise self.lookup_error()
            if job_id in self.forgotten or job_id not in self.scripts:
                raise JobNotFoundError(f"no job {job_id}")
            steps = self.scripts[job_id]
            return steps.pop(0) if len(steps) > 1 else steps[0]

    def find(self, token: str) -> int | None:
        return next((j for j, t in self.submissions if t == token), None)


class FakeOperator(ResumableJobMixin):
    """A minimal operator: only submit, status and the two predicates are required."""

    external_id_key = "fake_job_id"
    poll_interval = 0.001
    poll_max_interval = 0.01
    poll_timeout = 5.0

    def __init__(self, jobs: FakeJobs, *, use_find: bool = False,
                 on_submit: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs = jobs
        self.use_find = use_find
        self.on_submit = on_submit
        self.finished: list[tuple[Any, Any]] = []

    def submit_job(self, context: Any) -> int:
        job_id = self.jobs.submit(self.idempotency_token)
        if self.on_submit:
            self.on_submit()
        return job_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self.jobs.status(external_id)

    def is_job_active(self, status: Any) -> bool:
        return status in ("PENDING", "RUNNING")

    def is_job_succeeded(self, status: Any) -> bool:
        return status == "SUCCESS"

    def find_job(self, token: str, context: Any) -> Any:
        return self.jobs.find(token) if self.use_find else None

    def cancel_job(self, external_id: Any, context: Any) -> None:
        self.jobs.cancelled.append(external_id)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"job": external_id}

    def on_job_finished(self, external_id: Any, result: Any, context: Any) -> None:
        self.finished.append((external_id, result))


class StrictOperator(FakeOperator):
    """Overrides is_job_failed, so statuses nobody claims are unknown."""

    def is_job_failed(self, status: Any) -> bool:
        return status in ("FAILED", "CANCELED")


class AccessorLike:
    """Shaped like Airflow's task_state_store accessor; records every retention it gets."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.retentions: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        if value is None:
            raise ValueError("None")
        self.data[key] = value
        self.retentions[key] = retention

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    def clear(self) -> None:
        self.data.clear()


#: The task instance the mixin tests run as, and the fake operator's ID key.
SCOPE = TaskScope("dag", "run", "task")
KEY = FakeOperator.external_id_key


def ctx(store: Any) -> dict[str, Any]:
    """A plain (non-Airflow) context holding ``store`` as the task store."""
    return {"task_store": store}

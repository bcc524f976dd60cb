"""Filling the growth benchmark's store: the job records it lists, and rows to grow it.

How it works: :func:`seed_jobs` writes ``JOBS`` job records through the public API the
way ``ResumableJobMixin`` keeps them (the job ID under ``job_id`` and a ``JobRecord``
under ``resumable.job/job_id``, one scope each, never expiring); :func:`grow` adds live
task rows (expiring 30 days ahead, as rows kept under a default retention do) with
``tests/store_client/bulk.py``, bypassing the API, then ``ANALYZE``s on PostgreSQL.

What it does not do: time anything (seeding is never timed), or seed expired rows
(``_cleanup.seed_expired`` does).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from benchmarks._sql_info import analyze
from resumable._job_record import JobRecord, meta_key, now_iso
from store_client import NEVER_EXPIRE, TaskScope, connect
from tests.store_client.bulk import bulk_put

__all__ = ["JOBS", "grow", "seed_jobs"]

JOBS = 100
ID_KEY = "job_id"


def seed_jobs(url: str) -> None:
    """The ``JOBS`` job records the listing must find, written as the mixin writes them."""
    with connect(url) as client:
        for i in range(JOBS):
            store = client.task_store(TaskScope("jobs_dag", f"run_{i:03d}", "submit"))
            record = JobRecord(external_id=f"job-{i}", generation=1, token=f"token-{i}",
                               phase="submitted", status="RUNNING", submitted_at=now_iso(),
                               updated_at=now_iso())
            store.set(ID_KEY, record.external_id, retention=NEVER_EXPIRE)
            store.set(meta_key(ID_KEY), record.to_json(), retention=NEVER_EXPIRE)


def grow(url: str, have: int, want: int) -> None:
    """Add ``want - have`` live rows (expiring in 30 days) under a task of their own."""
    if want <= have:
        return
    started = time.perf_counter()
    with connect(url) as client:
        expires = datetime.now(timezone.utc) + timedelta(days=30)
        bulk_put(client, want - have, expires_at=expires, task=f"grow_{want}")
        analyze(client)
    print(f"    seeded {want - have:,} rows (now {want:,}) in "
          f"{time.perf_counter() - started:.1f} s (not timed)", flush=True)

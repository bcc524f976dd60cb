"""Two tries of one task instance running at once submit one job (real processes).

A zombie try and its retry, or two processes given the same scope: both run
``execute`` on the same task store, against a job system that neither dedupes on the
token nor lets ``find_job`` find a job (:class:`tests.support.crash_jobs.CrashJobs`),
with a slow ``submit_job`` that leaves a wide window. Only the claim in the task store
(``compare_and_set``) keeps them to one job. 20 seeded trials per SQL backend vary the
two start offsets, the submit delay and the job's length; a control with claims off
shows the same trials make duplicates.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.crash_jobs import CrashJobs
from tests.support.worker import finish_worker, kill_worker, start_worker

TRIALS = 20
SEED = 20261129
TARGET = "tests.support.overlap_worker:OverlapOperator"


@dataclass(frozen=True)
class Plan:
    index: int
    delays: tuple[float, float]
    submit_delay: float
    duration: float


def plans(seed: int, count: int) -> list[Plan]:
    rng = random.Random(seed)
    return [Plan(i, (rng.uniform(0, 0.3), rng.uniform(0, 0.3)), rng.uniform(0.05, 0.6),
                 rng.uniform(0.2, 1.5)) for i in range(count)]


def _trial(plan: Plan, store_url: str, jobs_path: Path, claim_timeout: float
           ) -> tuple[list[int], list[Any]]:
    scope = f"overlap-{plan.index}-{claim_timeout}"
    procs: list[subprocess.Popen[str]] = []
    try:
        for delay in plan.delays:
            procs.append(start_worker(TARGET, store_url=store_url, dag=scope, kwargs={
                "jobs_path": str(jobs_path), "scope": scope, "duration": plan.duration,
                "start_delay": delay, "submit_delay": plan.submit_delay,
                "claim_timeout": claim_timeout}))
        results = [finish_worker(proc, timeout=90) for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                kill_worker(proc)
    jobs = CrashJobs(jobs_path)
    try:
        return jobs.ids(scope), results
    finally:
        jobs.close()


def test_plans_are_seeded() -> None:
    assert plans(SEED, 3) == plans(SEED, 3)
    assert len({p.submit_delay for p in plans(SEED, TRIALS)}) == TRIALS


def test_two_overlapping_tries_submit_one_job(persistent_url: str, tmp_path: Path) -> None:
    jobs_path = tmp_path / "jobs.sqlite"
    summary = []
    for plan in plans(SEED, TRIALS):
        job_ids, results = _trial(plan, persistent_url, jobs_path, claim_timeout=10.0)
        summary.append((plan, job_ids, results))
        assert len(job_ids) == 1, summary
        assert results == [{"job_id": job_ids[0]}] * 2, summary  # both got its result
    print(f"\n{TRIALS} trials on {persistent_url.partition(':')[0]}: "
          f"{sum(len(ids) for _, ids, _ in summary)} jobs")


@pytest.mark.parametrize("persistent_url", ["sqlite"], indirect=True)
def test_without_claims_the_same_trials_make_duplicates(persistent_url: str,
                                                        tmp_path: Path) -> None:
    jobs_path = tmp_path / "jobs.sqlite"
    overlapping = [p for p in plans(SEED, TRIALS)
                   if p.submit_delay > abs(p.delays[0] - p.delays[1]) + 0.2][:3]
    duplicated = sum(len(_trial(plan, persistent_url, jobs_path, claim_timeout=0)[0]) > 1
                     for plan in overlapping)
    assert duplicated >= 1, "the trials do not overlap enough to test the claim"

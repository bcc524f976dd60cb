"""Crash trials: SIGKILL a real worker process somewhere in a job's life, retry, count jobs.

How it works: :func:`run_trials` runs ``trials`` independent trials of one operator
(``module:Class``, see :mod:`tests.support.crash_worker`). Trial ``i`` draws its plan
from ``random.Random(seed + i)`` (:func:`plan_trial`), gets a fresh task store (its own
SQLite file, ``sqlite:///...``) and the job scope ``trial-i``, then:

1. starts the worker with the crash point in ``CRASH_AT`` (``before_submit``,
   ``after_submit`` or ``poll:k``), where the worker SIGKILLs itself; or, for an
   *external* kill, with no ``CRASH_AT`` and the harness SIGKILLs the worker's process
   group after a random delay (0-1.5 s, which covers start-up, submission and polling;
   a worker that already finished is not killed);
2. re-runs the worker without a crash until a run exits 0 and prints its result (at
   most ``max_runs`` runs in all);
3. counts the jobs the job system recorded for the scope.

Crash kinds: with ``schedule="round_robin"`` (the default) trial ``i`` gets kind
``CRASH_KINDS[i % 4]``, so every kind occurs once in any four trials; with
``schedule="random"`` an external kill with probability 1/2, else a CRASH_AT point
chosen uniformly. Either way the parameters (job duration 0.5-1 s, ``k`` in 1..5, the
kill delay) are random, and every trial draws the same numbers in the same order, so
two operators run with the same seed face the same crash plans.

What it does not do: judge the results (the test and the benchmark do), or run trials
concurrently unless asked (``parallel``); concurrency shifts the timing of external
kills, not what a trial checks.
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.crash_jobs import CrashJobs
from tests.support.worker import kill_worker, start_worker

__all__ = ["CRASH_KINDS", "CrashPlan", "Trial", "TrialReport", "plan_trial", "run_trials"]

CRASH_KINDS = ("before_submit", "after_submit", "poll", "external")
SCHEDULES = ("round_robin", "random")
DURATION_RANGE = (0.5, 1.0)  # seconds each submitted job runs
POLL_CRASH_RANGE = (1, 5)  # k in poll:k
KILL_DELAY_RANGE = (0.0, 1.5)  # seconds before an external SIGKILL
RUN_TIMEOUT = 120.0  # a worker that runs this long is stuck


@dataclass(frozen=True)
class CrashPlan:
    """Where trial ``index`` crashes its first run, and how long its jobs run."""

    index: int
    kind: str  # one of CRASH_KINDS
    crash_at: str  # the CRASH_AT of the first run ("" for an external kill)
    kill_after: float | None  # seconds before the external SIGKILL, else None
    duration: float

    @property
    def label(self) -> str:
        if self.kill_after is not None:
            return f"external@{self.kill_after:.2f}s"
        return self.crash_at


def plan_trial(index: int, seed: int, schedule: str = "round_robin") -> CrashPlan:
    """The crash plan of trial ``index``, drawn from ``random.Random(seed + index)``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, not {schedule!r}")
    rng = random.Random(seed + index)
    # Draw every number in a fixed order, whatever the kind, so plans stay comparable.
    duration = round(rng.uniform(*DURATION_RANGE), 3)
    external = rng.random() < 0.5
    point = rng.choice(CRASH_KINDS[:3])
    k = rng.randint(*POLL_CRASH_RANGE)
    delay = round(rng.uniform(*KILL_DELAY_RANGE), 3)
    if schedule == "round_robin":
        kind = CRASH_KINDS[index % len(CRASH_KINDS)]
    else:
        kind = "external" if external else point
    if kind == "external":
        return CrashPlan(index, kind, "", delay, duration)
    crash_at = f"poll:{k}" if kind == "poll" else kind
    return CrashPlan(index, kind, crash_at, None, duration)


@dataclass(frozen=True)
class Trial:
    """What happened in one trial."""

    plan: CrashPlan
    first_exit: int  # exit status of the first run (-9: SIGKILL)
    jobs_at_crash: int  # jobs in the scope right after the first run ended
    runs: int  # worker runs in all, the first (crashing) one included
    job_ids: tuple[int, ...]  # every job the scope ended with, oldest first
    result: Any  # what the last run printed (None if it printed nothing or None)
    completed: bool  # some run exited 0 with a result line
    elapsed: float

    @property
    def killed(self) -> bool:
        """True if the first run died of SIGKILL (the crash really happened)."""
        return self.first_exit == -signal.SIGKILL

    @property
    def jobs(self) -> int:
        return len(self.job_ids)

    @property
    def duplicates(self) -> int:
        return max(0, self.jobs - 1)

    @property
    def result_ok(self) -> bool:
        """True if the result names the one job there is (or the last one, if several)."""
        return bool(self.job_ids) and self.result == {"job_id": self.job_ids[-1]}

    @property
    def crash_point(self) -> str:
        """The plan's label; for an external kill, also where it landed."""
        if self.plan.kill_after is None:
            return self.plan.label
        if not self.killed:
            where = "missed: worker done"
        elif self.jobs_at_crash == 0:
            where = "before submit"
        else:
            where = "after submit"
        return f"{self.plan.label} ({where})"


@dataclass
class TrialReport:
    """All trials of one operator, and their totals."""

    operator: str
    seed: int
    schedule: str
    trials: list[Trial] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def job_counts(self) -> list[int]:
        return [t.jobs for t in self.trials]

    @property
    def crash_points(self) -> list[str]:
        return [t.crash_point for t in self.trials]

    @property
    def kinds(self) -> Counter[str]:
        return Counter(t.plan.kind for t in self.trials)

    @property
    def duplicates(self) -> int:
        """Extra submissions in all trials (jobs beyond the first)."""
        return sum(t.duplicates for t in self.trials)

    @property
    def multi_job_trials(self) -> int:
        return sum(t.jobs > 1 for t in self.trials)

    @property
    def lost(self) -> int:
        """Trials that ended with no job at all."""
        return sum(t.jobs == 0 for t in self.trials)

    @property
    def wrong_results(self) -> int:
        """Trials whose final result is not ``{"job_id": <the job>}`` (e.g. None)."""
        return sum(not t.result_ok for t in self.trials)

    @property
    def incomplete(self) -> int:
        """Trials where no run exited 0 within the allowed runs."""
        return sum(not t.completed for t in self.trials)

    @property
    def runs(self) -> int:
        return sum(t.runs for t in self.trials)


_RESULT = re.compile(r"^RESULT (.*)$", re.MULTILINE)


def _run_once(operator: str, store_url: str, dag: str, kwargs: dict[str, Any],
              crash_at: str, kill_after: float | None) -> tuple[int, bool, Any]:
    """One worker run; returns (exit status, printed a result?, the result)."""
    proc = start_worker(operator, store_url=store_url, dag=dag, kwargs=kwargs,
                        env={"CRASH_AT": crash_at})
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT if kill_after is None else kill_after)
    except subprocess.TimeoutExpired:
        kill_worker(proc)  # the external SIGKILL (or a stuck worker)
        if kill_after is None:
            raise AssertionError(f"{operator} in {dag} ran over {RUN_TIMEOUT} s") from None
        # A worker that exited at the very moment of the kill printed a result we did not
        # read: it counts as a run without a result, and the next run reports it.
        return proc.returncode, False, None
    finally:
        if proc.returncode is None:
            kill_worker(proc)
    results = _RESULT.findall(out)
    if proc.returncode != 0 or not results:
        return proc.returncode, False, None
    return proc.returncode, True, json.loads(results[-1])


def _run_trial(operator: str, plan: CrashPlan, directory: Path, jobs_path: Path,
               max_runs: int) -> Trial:
    started = time.monotonic()
    scope = f"trial-{plan.index}"
    store_url = f"sqlite:///{directory / f'store-{plan.index}.sqlite'}"
    kwargs: dict[str, Any] = {"jobs_path": str(jobs_path), "scope": scope,
                              "duration": plan.duration}
    jobs = CrashJobs(jobs_path)
    try:
        first_exit, completed, result = _run_once(operator, store_url, scope, kwargs,
                                                  plan.crash_at, plan.kill_after)
        jobs_at_crash = jobs.count(scope)
        runs = 1
        while not completed and runs < max_runs:
            runs += 1
            _, completed, result = _run_once(operator, store_url, scope, kwargs, "", None)
        job_ids = tuple(jobs.ids(scope))
    finally:
        jobs.close()
    return Trial(plan=plan, first_exit=first_exit, jobs_at_crash=jobs_at_crash, runs=runs,
                 job_ids=job_ids, result=result, completed=completed,
                 elapsed=time.monotonic() - started)


def run_trials(operator: str, trials: int, seed: int, workdir: Path, *,
               schedule: str = "round_robin", max_runs: int = 5,
               parallel: int = 1) -> TrialReport:
    """Run ``trials`` crash trials of ``operator`` (``module:Class``); see the module doc.

    Each call works in a fresh directory under ``workdir`` (its own job system and task
    stores), so two calls never see each other's jobs.
    """
    if trials < 0 or max_runs < 1 or parallel < 1:
        raise ValueError("trials >= 0, max_runs >= 1 and parallel >= 1 are required")
    plans = [plan_trial(i, seed, schedule) for i in range(trials)]
    workdir.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", operator.rpartition(":")[2]).strip("-")
    directory = Path(tempfile.mkdtemp(prefix=f"{slug}-seed{seed}-", dir=workdir))
    jobs_path = directory / "jobs.sqlite"
    setup = CrashJobs(jobs_path)
    setup.count("")  # create the file (WAL) and the table before workers race to
    setup.close()

    report = TrialReport(operator=operator, seed=seed, schedule=schedule)
    started = time.monotonic()
    if parallel == 1:
        report.trials = [_run_trial(operator, p, directory, jobs_path, max_runs)
                         for p in plans]
    else:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            report.trials = list(pool.map(
                lambda p: _run_trial(operator, p, directory, jobs_path, max_runs), plans))
    report.elapsed = time.monotonic() - started
    return report

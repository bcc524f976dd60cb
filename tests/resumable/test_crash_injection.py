"""SIGKILL real worker processes around an external job: our mixin ends with exactly one job.

The job system (``tests.support.crash_jobs``) does not dedupe on the idempotency token,
so only the mixin's intent record plus ``find_job`` can prevent a duplicate when the
crash falls between submit and persist. Each trial kills the first run (by itself at a
``CRASH_AT`` point, or from outside after a random delay), re-runs the worker until it
succeeds, and counts the jobs (see ``tests.support.crash_harness``).
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.crash_harness import CRASH_KINDS, plan_trial, run_trials

OURS = "tests.support.crash_worker:OurOperator"
AIRFLOW_LOGIC = "tests.support.crash_worker:AirflowLogicOperator"
SEED = 1234
TRIALS = 20


def test_plans_are_deterministic_and_cover_every_kind() -> None:
    plans = [plan_trial(i, SEED) for i in range(TRIALS)]
    assert plans == [plan_trial(i, SEED) for i in range(TRIALS)]
    assert [p.kind for p in plans[:4]] == list(CRASH_KINDS)
    for plan in plans:
        assert 0.5 <= plan.duration <= 1.0
        if plan.kind == "poll":
            assert plan.crash_at in {f"poll:{k}" for k in range(1, 6)}
        elif plan.kind == "external":
            assert plan.crash_at == "" and plan.kill_after is not None
            assert 0.0 <= plan.kill_after <= 1.5
        else:
            assert plan.crash_at == plan.kind and plan.kill_after is None
    # The random schedule draws the same parameters; only the kind is chosen differently.
    randomly = [plan_trial(i, SEED, "random") for i in range(TRIALS)]
    assert [p.duration for p in randomly] == [p.duration for p in plans]


def test_every_crash_trial_ends_with_exactly_one_job(tmp_path: Path) -> None:
    report = run_trials(OURS, trials=TRIALS, seed=SEED, workdir=tmp_path)

    summary = "\n".join(
        f"trial {t.plan.index}: {t.crash_point}, first exit {t.first_exit}, "
        f"runs {t.runs}, jobs {list(t.job_ids)}, result {t.result}" for t in report.trials)
    assert len(report.trials) == TRIALS
    assert set(report.kinds) == set(CRASH_KINDS), summary
    for trial in report.trials:
        assert trial.completed, summary
        assert trial.jobs == 1, summary
        assert trial.result == {"job_id": trial.job_ids[0]}, summary
        if trial.plan.kind != "external":
            # The crash really happened: the first run died of SIGKILL at its CRASH_AT.
            assert trial.first_exit == -signal.SIGKILL, summary
            assert trial.runs == 2, summary
            expected_before = 0 if trial.plan.kind == "before_submit" else 1
            assert trial.jobs_at_crash == expected_before, summary
    # External kills land where timing puts them; at least one hit a live worker.
    assert any(t.killed for t in report.trials if t.plan.kind == "external"), summary
    assert report.duplicates == 0 and report.lost == 0, summary


def test_the_harness_sees_the_duplicate_of_a_crash_between_submit_and_persist(
        tmp_path: Path) -> None:
    """The same harness on Airflow 3.3.2's logic: after_submit (trial 1) submits twice."""
    report = run_trials(AIRFLOW_LOGIC, trials=2, seed=SEED, workdir=tmp_path)
    before, after = report.trials
    assert before.plan.kind == "before_submit" and before.jobs == 1
    assert after.plan.kind == "after_submit" and after.killed
    assert after.jobs == 2 and after.result == {"job_id": after.job_ids[1]}
    assert report.duplicates == 1

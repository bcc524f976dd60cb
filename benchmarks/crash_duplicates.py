"""Duplicate external jobs under real SIGKILLs: our ResumableJobMixin vs Airflow 3.3.2's logic.

What is measured: the crash harness (``tests/support/crash_harness.py``) runs the same
trials, with the same seeds and so the same crash plans, for two operators on the same
job system (``tests/support/crash_jobs.py``: a SQLite file shared by processes, which
records every submission and, like Spark or EMR steps, does not dedupe on a token):

* ``ours``: ``tests.support.crash_worker:OurOperator``, on ``resumable.ResumableJobMixin``
  with a ``find_job`` hook;
* ``airflow-3.3.2-logic``: ``tests.support.crash_worker:AirflowLogicOperator``, a
  re-implementation of the decision logic of Airflow 3.3.2's ``execute_resumable``.

Each trial SIGKILLs the first worker run (the worker kills itself at ``before_submit``,
``after_submit`` or ``poll:k``, or the harness kills it from outside after 0-1.5 s),
re-runs the worker until it exits 0 (at most 5 runs), and counts the scope's jobs.

Output: a table ``operator | trials | duplicate submissions | trials with >1 job |
lost jobs | wrong result | runs | time`` (a *wrong result* is a final ``execute`` result
other than ``{"job_id": <the job>}``, e.g. None), duplicates by crash kind, where the
external kills landed, and a one-line summary per operator. The script is a report: it
exits 0 unless something crashes; with ``--check`` it exits 1 if ours made a duplicate
or ended a trial without exactly one job. ``--summary FILE`` writes, for ``run_all.py``
(``benchmarks/_summary.py``), each operator's duplicates and wrong results, ours' with the
target 0; ``--quick`` runs 4 trials per operator (one of each crash kind).

What it does not do: time submissions, crash the job system itself, or run the real
Airflow operator (the re-implementation stands in for its decision logic).

Run from the repository root::

    .venv/bin/python benchmarks/crash_duplicates.py [--trials 20] [--seed 1234]
        [--schedule round_robin|random] [--parallel 1] [--quick] [--check]
        [--summary FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._summary import Result, write_summary
from benchmarks._table import print_table
from tests.support.crash_harness import CRASH_KINDS, SCHEDULES, TrialReport, run_trials

OPERATORS: dict[str, str] = {
    "ours": "tests.support.crash_worker:OurOperator",
    "airflow-3.3.2-logic": "tests.support.crash_worker:AirflowLogicOperator",
}
QUICK_TRIALS = 4


def summary_rows(reports: dict[str, TrialReport]) -> list[tuple[str, ...]]:
    return [(name, str(len(r.trials)), str(r.duplicates), str(r.multi_job_trials),
             str(r.lost), str(r.wrong_results), str(r.runs), f"{r.elapsed:.1f} s")
            for name, r in reports.items()]


def kind_rows(reports: dict[str, TrialReport]) -> list[tuple[str, ...]]:
    rows = []
    for kind in CRASH_KINDS:
        counts = {name: [t for t in r.trials if t.plan.kind == kind]
                  for name, r in reports.items()}
        trials = len(next(iter(counts.values())))
        rows.append((kind, str(trials),
                     *(str(sum(t.duplicates for t in ts)) for ts in counts.values())))
    return rows


def external_landing(report: TrialReport) -> str:
    landed: Counter[str] = Counter()
    for trial in report.trials:
        if trial.plan.kind == "external":
            landed[trial.crash_point.partition("(")[2].rstrip(")")] += 1
    return ", ".join(f"{where} {n}" for where, n in sorted(landed.items())) or "none"


def ours_failed(report: TrialReport) -> bool:
    return report.duplicates > 0 or any(t.jobs != 1 for t in report.trials)


def summary_results(reports: dict[str, TrialReport]) -> list[Result]:
    """Each operator's duplicates and wrong results; ours' duplicates must be 0."""
    results = []
    for name, report in reports.items():
        ours = name == "ours"
        trials = len(report.trials)
        results.append(Result("crash duplicates", f"{name}: duplicate submissions, "
                              f"{trials} SIGKILLed trials", str(report.duplicates),
                              "0" if ours else "-", report.duplicates == 0 if ours else None))
        if ours:
            off = sum(1 for t in report.trials if t.jobs != 1)
            results.append(Result("crash duplicates", f"{name}: trials not ending with "
                                  "exactly one job", str(off), "0", off == 0))
        results.append(Result("crash duplicates", f"{name}: wrong results",
                              str(report.wrong_results), "-", None))
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=20, help="trials per operator")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke-sized run: {QUICK_TRIALS} trials per operator")
    parser.add_argument("--seed", type=int, default=1234, help="trial i uses seed + i")
    parser.add_argument("--schedule", choices=SCHEDULES, default="round_robin",
                        help="round_robin: crash kinds in turn; random: external kill with "
                             "p=1/2, else a CRASH_AT point chosen uniformly")
    parser.add_argument("--parallel", type=int, default=1, help="trials run at once")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the job system and stores here (default: a temp dir)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if ours made any duplicate or a trial without one job")
    parser.add_argument("--summary", type=Path, help="write the results here (JSON)")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials = QUICK_TRIALS
    return args


def print_report(reports: dict[str, TrialReport], args: argparse.Namespace) -> None:
    ours = reports["ours"]
    kinds = ", ".join(f"{kind} {ours.kinds[kind]}" for kind in CRASH_KINDS)
    print()
    print(f"crash kinds ({args.schedule}, seed {args.seed}): {kinds}")
    for name, report in reports.items():
        print(f"external kills landed ({name}): {external_landing(report)}")
    print("crash points: " + ", ".join(ours.crash_points))
    print()
    print_table(("operator", "trials", "duplicate submissions", "trials with >1 job",
                 "lost jobs", "wrong result", "runs", "time"), summary_rows(reports))
    print()
    print_table(("crash kind", "trials", *(f"duplicates: {name}" for name in reports)),
                kind_rows(reports))
    print()
    for name, report in reports.items():
        print(f"{name}: {report.duplicates} duplicates, {report.lost} lost, "
              f"{report.wrong_results} wrong results in {len(report.trials)} trials")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    reports: dict[str, TrialReport] = {}
    with tempfile.TemporaryDirectory(prefix="resumable-crash-") as tmp:
        workdir = args.workdir or Path(tmp)
        for name, target in OPERATORS.items():
            print(f"{name}: {args.trials} trials, seed {args.seed}, {args.schedule}", flush=True)
            reports[name] = run_trials(target, args.trials, args.seed, workdir,
                                       schedule=args.schedule, parallel=args.parallel)
    print_report(reports, args)
    write_summary(args.summary, summary_results(reports))
    failed = ours_failed(reports["ours"])
    if failed:
        print("ours: FAILED: a trial did not end with exactly one job")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())

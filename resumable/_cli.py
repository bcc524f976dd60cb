"""The ``resumable`` command: the store commands of ``store_client``, ``jobs`` and ``demo``.

How it works: it extends ``store_client``'s parser (so the store client never imports
this package) with ``jobs``, which scans every task scope for the job records that
``ResumableJobMixin`` keeps beside each job ID and prints one line per tracked job:
scope, ID key, job ID, last status, phase, generation and age since submission.

``jobs`` only reads: it connects with ``create=False``, so a mistyped ``--url`` is an
error (exit status 2), never a new, empty store. ``demo --run-seconds`` takes more than
0 and at most 600 seconds. Errors and exit statuses are those of ``store_client``'s
command (``store_client.cli_main``; see ``resumable --help``).

``jobs --dag D --run R --status S`` narrows the list (``S`` is a status or a phase).
``jobs --airflow-db URL`` (or ``RESUMABLE_AIRFLOW_DB``, unless ``--url`` is given) lists
instead the jobs in Airflow's own ``task_state_store``, read-only from Airflow's
metadata database (``resumable._airflow_jobs``), in the same rows.

What it does not do: ask the external systems for live statuses; it shows what the
store holds (the last status a try saw, recorded each time it changed while polling).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, NoReturn

from resumable._airflow_jobs import ENV_AIRFLOW_DB, StoredJob, stored_jobs
from resumable._job_record import META_PREFIX, JobRecord
from store_client import ConfigurationError, cli_main, connect, decode_value, format_duration

__all__ = ["main", "run", "tracked_jobs"]

#: The longest demo job, in seconds (the demo waits for it, and then some).
MAX_RUN_SECONDS: Final = 600.0


def _run_seconds(text: str) -> float:
    """``--run-seconds``: a number of seconds, more than 0 and at most 600."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r:.40}") from None
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_RUN_SECONDS:
        raise argparse.ArgumentTypeError(
            f"{text!r:.40} is not more than 0 and at most {MAX_RUN_SECONDS:.0f} seconds")
    return seconds


def _extend(sub: Any, common: argparse.ArgumentParser) -> None:
    jobs = sub.add_parser("jobs", parents=[common],
                          help="list every external job tracked by ResumableJobMixin",
                          description="List the external jobs ResumableJobMixin tracks: in "
                          "our store (--url), or in Airflow's own task state store "
                          f"(--airflow-db, or {ENV_AIRFLOW_DB} when --url is not given).")
    jobs.add_argument("--airflow-db", metavar="URL",
                      help="read the jobs from Airflow's task_state_store instead, read-only, "
                      "in Airflow's metadata database at URL (its [database] "
                      "sql_alchemy_conn: sqlite:////PATH/airflow.db or postgresql://...; "
                      f"default: {ENV_AIRFLOW_DB}); not with --url")
    jobs.add_argument("--dag", help="only the jobs of this DAG id")
    jobs.add_argument("--run", help="only the jobs of this run id")
    jobs.add_argument("--status", help="only the jobs whose last known status is this "
                      "(or whose phase is: submitting, submitted, failed, finished)")
    jobs.set_defaults(handler=_jobs)
    demo = sub.add_parser("demo", parents=[common], help="kill a worker mid-job and watch the "
                          "retry reattach (about 15 s)")
    demo.add_argument("--run-seconds", type=_run_seconds, default=6.0,
                      help="length of the demo job, in seconds (default 6, at most 600)")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from resumable.demo import run_demo

    return run_demo(args.url, run_seconds=args.run_seconds)


def _age(since: str | None, now: datetime) -> str:
    """How long ago ``since`` (ISO 8601) was, to the two largest units: ``1d2h``, ``3m5s``."""
    if not since:
        return "-"
    try:
        age = max(now - datetime.fromisoformat(since), timedelta(0))
    except (ValueError, TypeError, OverflowError):  # not a date, or one without a zone
        return "-"
    seconds = int(age.total_seconds())
    unit = 3600 if seconds >= 86400 else 60 if seconds >= 3600 else 1
    return format_duration(timedelta(seconds=seconds - seconds % unit))


def _wanted(row: dict[str, Any], dag: str | None, run: str | None,
            status: str | None) -> bool:
    return ((dag is None or row["dag_id"] == dag) and (run is None or row["run_id"] == run)
            and (status is None or status in (str(row["status"]), row["phase"])))


def _store_jobs(url: str | None) -> list[StoredJob]:
    """The job records in our store at ``url`` (never created: ``create=False``), each
    with the job ID its record names: one query, however large the store."""
    with connect(url, create=False) as client:
        entries = client.scan_tasks(META_PREFIX, pair=True)
    return [StoredJob(e.scope.dag_id, e.scope.run_id, e.scope.task_id, e.scope.map_index,
                      e.key[len(META_PREFIX):],
                      None if e.paired is None else decode_value(e.paired),
                      decode_value(e.value)) for e in entries]


def _row(job: StoredJob, now: datetime) -> dict[str, Any] | None:
    record = JobRecord.load(job.external_id, job.meta)
    if record is None:
        return None
    return {"dag_id": job.dag_id, "run_id": job.run_id, "task_id": job.task_id,
            "map_index": job.map_index, "scope": job.scope,
            "external_id_key": job.external_id_key, "external_id": record.external_id,
            "status": record.status, "phase": record.phase, "generation": record.generation,
            "token": record.token, "submitted_at": record.submitted_at,
            "age": _age(record.submitted_at or record.updated_at, now)}


def tracked_jobs(url: str | None, *, dag: str | None = None, run: str | None = None,
                 status: str | None = None,
                 airflow_db: str | None = None) -> list[dict[str, Any]]:
    """The job records in the store at ``url``, as dicts, oldest row first; only those
    of ``dag`` / ``run`` / with that last known ``status`` (or phase) when given.

    With ``airflow_db`` (an Airflow metadata database URL) the records come from
    Airflow's own ``task_state_store`` instead, read-only, and ``url`` is ignored.
    Never creates a store: a missing one raises ``ConfigurationError``. The status is
    the last one a try saw: recorded whenever it changed while the job was polled.
    """
    now = datetime.now(timezone.utc)
    jobs = (_store_jobs(url) if airflow_db is None
            else stored_jobs(airflow_db, dag=dag, run=run))
    rows = [row for job in jobs if (row := _row(job, now)) is not None]
    return [row for row in rows if _wanted(row, dag, run, status)]


def _jobs(args: argparse.Namespace) -> int:
    airflow_db = args.airflow_db
    if airflow_db is not None and args.url is not None:
        raise ConfigurationError("--airflow-db and --url are exclusive: give the Airflow "
                                 "metadata database or our store, not both")
    if airflow_db is None and args.url is None:
        airflow_db = os.environ.get(ENV_AIRFLOW_DB, "").strip() or None
    rows = tracked_jobs(args.url, dag=args.dag, run=args.run, status=args.status,
                        airflow_db=airflow_db)
    if args.json:
        print(json.dumps(rows))
        return 0
    header = ("SCOPE", "KEY", "JOB ID", "STATUS", "PHASE", "GEN", "AGE")
    table = [header] + [
        (r["scope"], r["external_id_key"], "-" if r["external_id"] is None
         else json.dumps(r["external_id"]).strip('"'), str(r["status"] or "-"), r["phase"],
         str(r["generation"]), r["age"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``resumable`` command; returns the exit status."""
    return cli_main(argv, extend=_extend)


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())

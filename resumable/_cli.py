"""The ``resumable`` command: the store commands of ``store_client``, ``jobs`` and ``demo``.

How it works: it extends ``store_client``'s parser (so the store client never imports
this package) with ``jobs``, which scans every task scope for the job records that
``ResumableJobMixin`` keeps beside each job ID and prints one line per tracked job:
scope, ID key, job ID, last status, phase, generation and age since submission.

What it does not do: ask the external systems for live statuses; it shows what the
store holds (the status the last try saw).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, NoReturn

from resumable._job_record import META_PREFIX, JobRecord
from store_client import connect
from store_client._cli import main as store_main
from store_client._values import decode_value

__all__ = ["main", "run"]


def _extend(sub: Any, common: argparse.ArgumentParser) -> None:
    jobs = sub.add_parser("jobs", parents=[common],
                          help="list every external job tracked by ResumableJobMixin")
    jobs.set_defaults(handler=_jobs)
    demo = sub.add_parser("demo", parents=[common], help="kill a worker mid-job and watch the "
                          "retry reattach (about 15 s)")
    demo.add_argument("--run-seconds", type=float, default=6.0, help="length of the demo job")
    demo.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from resumable._demo import run_demo

    return run_demo(args.url, run_seconds=args.run_seconds)


def _age(since: str | None, now: datetime) -> str:
    if not since:
        return "-"
    try:
        seconds = int((now - datetime.fromisoformat(since)).total_seconds())
    except ValueError:
        return "-"
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def tracked_jobs(url: str | None) -> list[dict[str, Any]]:
    """Every job record in the store at ``url``, as dicts, oldest row first."""
    now = datetime.now(timezone.utc)
    with connect(url) as client:
        rows = []
        for entry in client.scan_tasks(META_PREFIX):
            id_key = entry.key[len(META_PREFIX):]
            external_id = client.task_store(entry.scope).get(id_key)
            record = JobRecord.load(external_id, decode_value(entry.value))
            if record is None:
                continue
            rows.append({
                "dag_id": entry.scope.dag_id, "run_id": entry.scope.run_id,
                "task_id": entry.scope.task_id, "map_index": entry.scope.map_index,
                "scope": str(entry.scope), "external_id_key": id_key,
                "external_id": record.external_id, "status": record.status,
                "phase": record.phase, "generation": record.generation,
                "token": record.token, "submitted_at": record.submitted_at,
                "age": _age(record.submitted_at or record.updated_at, now)})
    return rows


def _jobs(args: argparse.Namespace) -> int:
    rows = tracked_jobs(args.url)
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
    return store_main(argv, extend=_extend)


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())

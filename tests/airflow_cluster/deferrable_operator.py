"""The operator of ``dags/resumable_defer.py``, in a module the triggerer can import.

How it works: :class:`NotingDeferrableRun` is the Databricks example operator
(``examples.databricks.operator``) mixed into ``BaseOperator`` with ``deferrable=True``.
It appends JSON lines to the file named by ``$RESUMABLE_DEFER_NOTES``: on the worker
``start`` (each ``execute``), ``submit`` (each ``runs/submit`` call, with the token),
``complete`` (each ``execute_complete``, with the event) and ``result``, and ``killed``
when a DAG run's conf asks try 1 to SIGKILL itself between storing the job's ID and
deferring (``kill_after_persist``); in the triggerer
``poll`` (each ``aget_job_status`` answer, with the run ID and status). Every note has the
process ID and the wall-clock time ``t``; worker notes have the try number and the
DAG run ID. The run's duration comes from the DAG run's conf ``run_seconds`` (default 5),
sent to the job server with the submission.

Why a module of its own: the triggerer rebuilds the operator by importing its class by
path, and Airflow loads DAG files under mangled module names nothing can import.

What it does not do: anything useful without the test that sets those variables.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

from airflow.sdk import BaseOperator

from examples.databricks.operator import DatabricksSubmitRunOperator

__all__ = ["NOTES_ENV", "NotingDeferrableRun", "note"]

NOTES_ENV = "RESUMABLE_DEFER_NOTES"


def note(event: str, context: Any = None, **fields: Any) -> None:
    """Append one JSON line (event, try and DAG run, pid, time, ``fields``) to the notes."""
    path = os.environ.get(NOTES_ENV)
    if not path:
        return
    where = {"try": context["ti"].try_number, "dag_run": context["run_id"]} if context else {}
    line = json.dumps({"event": event, **where, "pid": os.getpid(),
                       "t": time.time(), **fields}, default=str)
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


class NotingDeferrableRun(DatabricksSubmitRunOperator, BaseOperator):
    """The deferrable Databricks operator, noting what each process does."""

    deferrable = True

    def execute(self, context: Any) -> Any:
        note("start", context)
        return super().execute(context)

    def submit_job(self, context: Any) -> int:
        note("submit", context, token=self.idempotency_token)
        self.duration_seconds = float(context["dag_run"].conf.get("run_seconds", 5))
        return super().submit_job(context)

    def persist_job_id(self, context: Any, external_id: Any) -> Any:
        stored = super().persist_job_id(context, external_id)
        if context["dag_run"].conf.get("kill_after_persist") and \
                context["ti"].try_number == 1:
            note("killed", context, run_id=stored)
            os.kill(os.getpid(), signal.SIGKILL)  # between submit and defer
        return stored

    def execute_complete(self, context: Any, event: Any = None, resubmits: int = 0) -> Any:
        note("complete", context, event_=event)
        result = super().execute_complete(context, event, resubmits)
        note("result", context, result=result)
        return result

    async def aget_job_status(self, external_id: Any) -> str:
        status = await super().aget_job_status(external_id)
        note("poll", run_id=external_id, status=status)
        return status

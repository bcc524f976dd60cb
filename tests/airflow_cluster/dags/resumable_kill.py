"""Airflow DAG ``resumable_kill``: a Databricks-shaped job whose first try SIGKILLs itself.

How it works: :class:`KillFirstTry` is the Databricks example operator
(``examples.databricks.operator``, on ``ResumableJobMixin``) mixed into ``BaseOperator``.
Each try appends JSON lines to the file named by ``$RESUMABLE_KILL_NOTES``:
``{"event": "start", "try", "pid"}`` first, ``"submit"`` before each ``runs/submit`` call
(the server dedupes on the idempotency token, so its records alone cannot show that a
retry did not submit again). The mixin submits the run to the job server at
``$RESUMABLE_KILL_SERVER_URL`` and stores its ID in Airflow's task state store; only then
does it call ``poll_until_complete``, which asks the server for the run's status once and
notes it. On try 1 that note is ``"killed"`` and the process SIGKILLs itself: the task
process dies without a word, as one lost to the OOM killer would. Airflow retries
(``retries=1``, no delay) in a new process, where the mixin finds the stored ID and, the
run being still active, reattaches and polls it (note ``"polling"``); the try's result
is noted as ``"result"``. Every note carries the wall-clock time ``t``.

What it does not do: anything useful without the test that sets those variables (parsing
works without them; the server URL then points at an unused loopback port).
``$RESUMABLE_KILL_RUN_SECONDS`` (default 5) is how long the job server runs the job.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, BaseOperator

from examples.databricks.operator import DatabricksSubmitRunOperator

DAG_ID = "resumable_kill"
TASK_ID = "run_job"
SERVER_ENV = "RESUMABLE_KILL_SERVER_URL"
NOTES_ENV = "RESUMABLE_KILL_NOTES"
RUN_SECONDS_ENV = "RESUMABLE_KILL_RUN_SECONDS"


def note(event: str, context: Any, **fields: Any) -> None:
    """Append one JSON line (event, try number, pid, time, ``fields``) to the notes file."""
    path = os.environ.get(NOTES_ENV)
    if not path:
        return
    line = json.dumps({"event": event, "try": context["ti"].try_number, "pid": os.getpid(),
                       "t": time.time(), **fields})
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


class KillFirstTry(DatabricksSubmitRunOperator, BaseOperator):
    """The Databricks example operator; try 1 dies by SIGKILL once the run ID is stored."""

    def execute(self, context: Any) -> Any:
        note("start", context)
        result = super().execute(context)
        note("result", context, result=result)
        return result

    def submit_job(self, context: Any) -> int:
        note("submit", context, token=self.idempotency_token)
        return super().submit_job(context)

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        status = self.get_job_status(external_id, context)
        if context["ti"].try_number == 1:
            note("killed", context, run_id=external_id, status=status)
            os.kill(os.getpid(), signal.SIGKILL)
        note("polling", context, run_id=external_id, status=status)
        return super().poll_until_complete(external_id, context)


with DAG(DAG_ID, schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["resumable", "test"]):
    KillFirstTry(
        task_id=TASK_ID,
        host=os.environ.get(SERVER_ENV, "http://127.0.0.1:9"),
        run_name="resumable-kill",
        duration_seconds=float(os.environ.get(RUN_SECONDS_ENV, "5")),
        poll_interval=0.3,
        poll_timeout=120,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )

"""Airflow DAG ``resumable_defer``: a deferrable Databricks-shaped job, for the triggerer tests.

How it works: one :class:`~tests.airflow_cluster.deferrable_operator.NotingDeferrableRun`
task submits a run to the job server at ``$RESUMABLE_DEFER_SERVER_URL`` and defers; the
triggerer polls the run until it ends, then the task resumes and returns the result.
The run lasts the DAG run's conf ``run_seconds``; every step is noted (see that module).

What it does not do: anything useful without the test that sets those variables (parsing
works without them; the server URL then points at an unused loopback port).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG

from tests.airflow_cluster.deferrable_operator import NotingDeferrableRun

with DAG("resumable_defer", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["resumable", "test", "deferrable"]):
    NotingDeferrableRun(
        task_id="run_job",
        host=os.environ.get("RESUMABLE_DEFER_SERVER_URL", "http://127.0.0.1:9"),
        run_name="resumable-defer",
        poll_interval=0.5,
        poll_timeout=300,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )

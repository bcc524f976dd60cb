"""Airflow DAG ``resumable_clear``: one Databricks-shaped job, to be cleared and run again.

How it works: the Databricks example operator (on ``ResumableJobMixin``) mixed into
``BaseOperator`` submits one run to the job server at ``$RESUMABLE_CLEAR_SERVER_URL`` and
waits for it (1 s). The test clears the task through the REST API; Airflow keeps its
task state and raises ``dag_run.clear_number``. Cleared after success the rerun must
submit a new job; cleared after its job failed (conf ``fail_until_cleared``), resubmit
once, as a retry.

What it does not do: anything useful without the test that sets the variable (parsing
works without it).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, BaseOperator

from examples.databricks.operator import DatabricksSubmitRunOperator


class ClearableRun(DatabricksSubmitRunOperator, BaseOperator):
    """The Databricks example operator as an Airflow operator. With the DAG run conf
    ``fail_until_cleared``, the jobs it submits before the first clear fail."""

    def submit_job(self, context: Any) -> Any:
        self.fail = bool(context["dag_run"].conf.get("fail_until_cleared")) and \
            context["dag_run"].clear_number == 0
        return super().submit_job(context)


with DAG("resumable_clear", schedule=None,
         start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False,
         tags=["resumable", "test"]):
    ClearableRun(task_id="run_job", host=os.environ.get("RESUMABLE_CLEAR_SERVER_URL",
                                                        "http://127.0.0.1:9"),
                 run_name="resumable-clear", poll_interval=0.2, poll_timeout=60)

"""Airflow DAG ``resumable_databricks``: one Databricks run that survives worker crashes.

How it works: :class:`~examples.dags._common.DatabricksRun` submits the run with the
mixin's idempotency token and stores its run ID in Airflow's task state store (never
expiring). A retry after a crash reattaches to that run instead of submitting another;
a crash between ``runs/submit`` and the ID being stored is closed by ``find_job`` and
the same-token resubmission. Settings (``RESUMABLE_EXAMPLE_...``): ``DATABRICKS_HOST``,
``DATABRICKS_TOKEN``, ``POLL_INTERVAL``; ``RUN_SECONDS`` is a knob of the test double
(``resumable.demo.JobServer``), not sent when unset.
"""

from __future__ import annotations

from airflow.sdk import DAG

from examples.dags._common import RETRIES, START, DatabricksRun, retry_delay, setting

run_seconds = setting("RUN_SECONDS", "")

with DAG("resumable_databricks", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "databricks"]):
    DatabricksRun(
        task_id="nightly_run",
        host=setting("DATABRICKS_HOST", "http://127.0.0.1:8443"),
        token=setting("DATABRICKS_TOKEN", "") or None,
        run_name="resumable-nightly",
        tasks=[{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/nightly"}}],
        duration_seconds=float(run_seconds) if run_seconds else None,
        poll_interval=float(setting("POLL_INTERVAL", "10")),
        poll_timeout=3600,
        retries=RETRIES, retry_delay=retry_delay(),
    )

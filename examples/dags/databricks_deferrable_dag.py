"""Airflow DAG ``resumable_databricks_deferrable``: the Databricks run, waited on by the triggerer.

How it works: the same :class:`~examples.dags._common.DatabricksRun` as
``resumable_databricks``, with ``deferrable=True``. The worker takes the resume decision,
submits the run (or reconnects to the stored one), stores its ID, and defers: its slot
is free while Airflow's triggerer polls ``runs/get`` with the operator's
``aget_job_status``. When the run ends the task resumes in ``execute_complete``, which
checks the event against the stored record and returns ``{"run_id", "result_state"}``
to XCom. A crash before the deferral is a retry like any other: it reconnects to the run
instead of submitting another. Settings (``RESUMABLE_EXAMPLE_...``) as the blocking DAG:
``DATABRICKS_HOST``, ``DATABRICKS_TOKEN``, ``POLL_INTERVAL``, ``RUN_SECONDS``.

What it does not do: run without a triggerer (``airflow triggerer``; ``dag.test()`` runs
triggers inline).
"""

from __future__ import annotations

from airflow.sdk import DAG

from examples.dags._common import RETRIES, START, DatabricksRun, retry_delay, setting

run_seconds = setting("RUN_SECONDS", "")

with DAG("resumable_databricks_deferrable", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "databricks", "deferrable"]):
    DatabricksRun(
        task_id="nightly_run",
        host=setting("DATABRICKS_HOST", "http://127.0.0.1:8443"),
        token=setting("DATABRICKS_TOKEN", "") or None,
        run_name="resumable-nightly-deferrable",
        tasks=[{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/nightly"}}],
        duration_seconds=float(run_seconds) if run_seconds else None,
        poll_interval=float(setting("POLL_INTERVAL", "10")),
        poll_timeout=3600,
        deferrable=True,
        retries=RETRIES, retry_delay=retry_delay(),
    )

"""Airflow DAG ``resumable_emr``: one EMR step that survives worker crashes.

How it works: :class:`~examples.dags._common.JobTask` runs the plain-class
:class:`~examples.emr.EmrAddStepOperator` in the task; the step ID goes to Airflow's task
state store, and the step's name carries the idempotency token so a retry after a crash
between ``add_job_flow_steps`` and the ID being stored adopts the step it finds by name.
Settings (``RESUMABLE_EXAMPLE_...``): ``EMR_CLUSTER_ID``, ``EMR_REGION``,
``EMR_ENDPOINT_URL`` (empty: AWS itself), ``POLL_INTERVAL``.
"""

from __future__ import annotations

from airflow.sdk import DAG

from examples.dags._common import RETRIES, START, JobTask, retry_delay, setting
from examples.emr import EmrAddStepOperator

with DAG("resumable_emr", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "emr"]):
    JobTask(
        task_id="add_step",
        job_class=EmrAddStepOperator,
        job_kwargs={
            "cluster_id": setting("EMR_CLUSTER_ID", "j-EXAMPLE"),
            "step_name": "resumable-nightly",
            "args": ["spark-submit", "--deploy-mode", "cluster", "s3://example/jobs/nightly.py"],
            "region": setting("EMR_REGION", "us-east-1"),
            "endpoint_url": setting("EMR_ENDPOINT_URL", "") or None,
            "poll_interval": float(setting("POLL_INTERVAL", "30")),
            "poll_timeout": 6 * 3600,
        },
        retries=RETRIES, retry_delay=retry_delay(),
    )

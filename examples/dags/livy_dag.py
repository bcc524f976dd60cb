"""Airflow DAG ``resumable_livy``: one Apache Livy batch that survives worker crashes.

How it works: :class:`~examples.dags._common.JobTask` runs the plain-class
:class:`~examples.livy.operator.LivyBatchOperator`; the batch ID goes to Airflow's task
state store and the batch name carries the idempotency token (``find_job`` looks it up
after a crash between submit and persist). Settings (``RESUMABLE_EXAMPLE_...``):
``LIVY_URL``, ``LIVY_FILE``, ``POLL_INTERVAL``.

Limit: the tests only parse this DAG (no Livy server runs on the test machine; the
operator itself is tested against recorded Livy answers in ``tests/examples``).
"""

from __future__ import annotations

from airflow.sdk import DAG

from examples.dags._common import RETRIES, START, JobTask, retry_delay, setting
from examples.livy.operator import LivyBatchOperator

with DAG("resumable_livy", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "livy"]):
    JobTask(
        task_id="batch",
        job_class=LivyBatchOperator,
        job_kwargs={
            "livy_url": setting("LIVY_URL", "http://127.0.0.1:8998"),
            "file": setting("LIVY_FILE", "local:/opt/jobs/nightly.py"),
            "name": "resumable-nightly",
            "poll_interval": float(setting("POLL_INTERVAL", "15")),
            "poll_timeout": 6 * 3600,
        },
        retries=RETRIES, retry_delay=retry_delay(),
    )

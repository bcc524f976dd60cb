"""Airflow DAG ``resumable_spark_deferrable``: the PySpark driver, waited on by the triggerer.

How it works: :class:`~examples.dags._common.SparkRun` (the Spark standalone operator as
an Airflow operator) with ``deferrable=True``. The worker takes the resume decision,
submits the driver through the Master's REST API (or reconnects to the stored one),
stores its ID and defers; the triggerer asks ``/v1/submissions/status`` through the
operator's ``aget_job_status`` (``httpx.AsyncClient``) until the driver ends, and the
task resumes in ``execute_complete`` with ``{"driver_id", "state", ...}`` in XCom.
Settings (``RESUMABLE_EXAMPLE_...``) as ``resumable_spark``.

What it does not do: run without a triggerer (``airflow triggerer``; ``dag.test()`` runs
triggers inline). The tests parse it; the deferrable path runs on the Databricks DAG.
"""

from __future__ import annotations

import sys
from pathlib import Path

from airflow.sdk import DAG

from examples.dags._common import RETRIES, START, SparkRun, retry_delay, setting

APP = Path(__file__).resolve().parents[1] / "spark_standalone" / "app.py"

with DAG("resumable_spark_deferrable", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "spark", "deferrable"]):
    SparkRun(
        task_id="sum_range",
        rest_url=setting("SPARK_REST_URL", "http://127.0.0.1:6066"),
        master_url=setting("SPARK_MASTER_URL", "spark://127.0.0.1:7077"),
        web_url=setting("SPARK_WEB_URL", "http://127.0.0.1:8080"),
        app_file=str(APP),
        app_args=[setting("SPARK_OUTPUT", "/tmp/resumable-spark-sum.json"),
                  setting("SPARK_N", "1000"), setting("SPARK_SLEEP", "0")],
        python=setting("SPARK_PYTHON", sys.executable),
        poll_interval=float(setting("POLL_INTERVAL", "5")),
        poll_timeout=3600,
        deferrable=True,
        retries=RETRIES, retry_delay=retry_delay(),
    )

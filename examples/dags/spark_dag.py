"""Airflow DAG ``resumable_spark``: a PySpark app on Spark standalone, crash-safe.

How it works: :class:`~examples.dags._common.JobTask` runs the plain-class
:class:`~examples.spark_standalone.SparkStandaloneSubmitOperator`, which submits
``examples/spark_standalone/app.py`` as a cluster-mode driver through the Master's REST
API (``spark.app.name`` = the idempotency token) and keeps the driver ID in Airflow's
task state store; a retry reattaches to the running driver. Settings
(``RESUMABLE_EXAMPLE_...``): ``SPARK_REST_URL``, ``SPARK_MASTER_URL``, ``SPARK_WEB_URL``,
``SPARK_OUTPUT`` (the JSON file the app writes), ``SPARK_N``, ``SPARK_SLEEP`` (seconds
the app sleeps before finishing), ``SPARK_PYTHON``, ``POLL_INTERVAL``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from airflow.sdk import DAG

from examples.dags._common import RETRIES, START, JobTask, retry_delay, setting
from examples.spark_standalone import SparkStandaloneSubmitOperator

APP = Path(__file__).resolve().parents[1] / "spark_standalone" / "app.py"

with DAG("resumable_spark", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "spark"]):
    JobTask(
        task_id="sum_range",
        job_class=SparkStandaloneSubmitOperator,
        job_kwargs={
            "rest_url": setting("SPARK_REST_URL", "http://127.0.0.1:6066"),
            "master_url": setting("SPARK_MASTER_URL", "spark://127.0.0.1:7077"),
            "web_url": setting("SPARK_WEB_URL", "http://127.0.0.1:8080"),
            "app_file": str(APP),
            "app_args": [setting("SPARK_OUTPUT", "/tmp/resumable-spark-sum.json"),
                         setting("SPARK_N", "1000"), setting("SPARK_SLEEP", "0")],
            "python": setting("SPARK_PYTHON", sys.executable),
            "poll_interval": float(setting("POLL_INTERVAL", "5")),
            "poll_timeout": 3600,
        },
        retries=RETRIES, retry_delay=retry_delay(),
    )

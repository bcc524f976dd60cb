"""What the example DAGs share: their settings, retry defaults, and two operator classes.

How it works:

- :func:`setting` reads ``RESUMABLE_EXAMPLE_<NAME>`` from the environment when the DAG
  file is parsed (service URLs, file paths), with a default that parses anywhere; in a
  real deployment these would be Airflow Connections or Variables.
- every task gets ``RETRIES`` (1) retry, :func:`retry_delay` apart
  (``RESUMABLE_EXAMPLE_RETRY_DELAY_SECONDS``, default 60): a retry is what the resumable
  parts are for.
- :class:`DatabricksRun` is the Databricks example operator mixed into ``BaseOperator``
  the way ``ResumableJobMixin`` is meant to be used (mixin first, no ``execute``).
- :class:`SparkRun` is the Spark standalone operator mixed into ``BaseOperator`` (it can
  defer; the deferrable DAG uses it).
- :class:`JobTask` runs a *plain-class* resumable operator (the EMR, Spark standalone and
  Livy examples) as an Airflow task: it builds ``job_class(**job_kwargs)`` at execution
  time and calls its ``execute(context)``. The mixin finds Airflow's task state store in
  that context, so the job ID lives in Airflow's ``task_state_store`` either way. They
  can be mixed into ``BaseOperator`` directly too (their ``__init__`` passes the other
  keywords on), as :class:`SparkRun` is; a deferrable task must be.

What it does not do: validate the settings (a wrong URL fails the task, not the parse).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import BaseOperator

from examples.databricks.operator import DatabricksSubmitRunOperator
from examples.spark_standalone.operator import SparkStandaloneSubmitOperator
from resumable import ResumableJobMixin

__all__ = ["RETRIES", "START", "DatabricksRun", "JobTask", "retry_delay", "setting"]

PREFIX = "RESUMABLE_EXAMPLE_"
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
RETRIES = 1


def setting(name: str, default: str) -> str:
    """The value of ``RESUMABLE_EXAMPLE_<name>``, or ``default``."""
    return os.environ.get(PREFIX + name, default)


def retry_delay() -> timedelta:
    """``RESUMABLE_EXAMPLE_RETRY_DELAY_SECONDS`` (default 60) as the delay between tries."""
    return timedelta(seconds=float(setting("RETRY_DELAY_SECONDS", "60")))


class DatabricksRun(DatabricksSubmitRunOperator, BaseOperator):
    """``DatabricksSubmitRunOperator`` as an Airflow operator (its keywords, then
    ``BaseOperator``'s: ``task_id``, ``retries``...). Mappable with ``.partial().expand()``."""


class SparkRun(SparkStandaloneSubmitOperator, BaseOperator):
    """``SparkStandaloneSubmitOperator`` as an Airflow operator, so it can defer (the
    triggerer rebuilds it from this importable path)."""


class JobTask(BaseOperator):
    """Run ``job_class(**job_kwargs)`` (a plain-class ``ResumableJobMixin``) as this task.

    The job object is built per try, at execution time, so nothing but the class and
    its keyword arguments lives in the DAG. ``on_kill`` is forwarded to the running job
    (which cancels it only if its ``cancel_on_kill`` is set).
    """

    def __init__(self, *, job_class: type[ResumableJobMixin], job_kwargs: Mapping[str, Any],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_class = job_class
        self.job_kwargs = dict(job_kwargs)
        self._job: ResumableJobMixin | None = None

    def execute(self, context: Any) -> Any:
        self._job = self.job_class(**self.job_kwargs)
        return self._job.execute(context)

    def on_kill(self) -> None:
        if self._job is not None:
            self._job.on_kill()

"""Airflow DAG ``resumable_mapped``: mapped tasks, each map index with its own state.

How it works: Airflow's task state store is keyed by (dag, run, task, map index), and so
are the checkpoint and the job ID kept in it:

- ``ingest_partition`` is ``@task`` on ``@checkpoint`` expanded over partitions; each
  partition is a range of pages of the example API, and a retried map index resumes at
  its own failed page while the other indexes are not run again. It also takes ``ti``
  (Airflow passes context values by parameter name through the decorator's signature);
- ``run_partition`` runs the Databricks example operator once per partition (a
  :class:`~examples.dags._common.JobTask` expanded over its keyword arguments): each map
  index submits its own run under its own idempotency token (the token includes the map
  index) and keeps its own run ID. (``DatabricksRun.partial(host=...)`` is refused by
  Airflow's mapping validation, which only knows the parameters of ``__init__`` methods
  its metaclass wrapped; ``JobTask`` declares its own.)

Settings (``RESUMABLE_EXAMPLE_...``): ``INGEST_SERVER``, ``INGEST_TARGET``,
``PAGES_PER_PARTITION``, ``DATABRICKS_HOST``, ``RUN_SECONDS``, ``POLL_INTERVAL``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from examples.dags._common import RETRIES, START, JobTask, retry_delay, setting
from examples.databricks import DatabricksSubmitRunOperator
from examples.paginated_ingest.ingest import PageApi, Target
from resumable import Checkpoint, checkpoint

PARTITIONS = [0, 1, 2]


@task(retries=RETRIES, retry_delay=retry_delay())
@checkpoint(key="page")
def ingest_partition(cp: Checkpoint, partition: int, server: str, target: str, per: int,
                     ti: Any = None) -> dict[str, Any]:
    """Load the ``per`` pages of ``partition``; a retry resumes at its failed page."""
    api, db = PageApi(server), Target(target)
    first = partition * per + 1
    resumed_from, pages = cp.position, []
    try:
        for page in cp.resume(range(first, first + per)):
            db.load_page(page, api.page(page))
            pages.append(page)
    finally:
        api.close()
        db.close()
    return {"map_index": getattr(ti, "map_index", None), "partition": partition,
            "resumed_from": resumed_from, "pages": pages}


with DAG("resumable_mapped", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "mapped"]):
    ingest_partition.partial(
        server=setting("INGEST_SERVER", "http://127.0.0.1:8000"),
        target=setting("INGEST_TARGET", "/tmp/resumable-partitions.db"),
        per=int(setting("PAGES_PER_PARTITION", "4")),
    ).expand(partition=PARTITIONS)
    run_seconds = setting("RUN_SECONDS", "")
    JobTask.partial(
        task_id="run_partition",
        job_class=DatabricksSubmitRunOperator,
        retries=RETRIES, retry_delay=retry_delay(),
    ).expand(job_kwargs=[{
        "host": setting("DATABRICKS_HOST", "http://127.0.0.1:8443"),
        "run_name": f"partition-{p}",
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/partition"}}],
        "duration_seconds": float(run_seconds) if run_seconds else None,
        "poll_interval": float(setting("POLL_INTERVAL", "10")),
        "poll_timeout": 3600,
    } for p in PARTITIONS])

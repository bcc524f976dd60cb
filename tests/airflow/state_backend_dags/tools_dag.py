"""Airflow DAG ``resumable_state_backend_tools``: the mixin, ``@checkpoint`` and
``@watermark`` exactly as users write them, for runs with our store as Airflow's state
backend (the test sets ``[state_store] backend`` and ``[workers] state_store_backend``).

- ``job``: the Databricks example operator (``ResumableJobMixin``) against the job
  server the test starts; the test crashes try 1 while polling, after the ID was stored.
- ``pages``: ``@checkpoint`` over 10 pages; try 1 dies at page 6.
- ``rows``: ``@watermark`` over rows ``1..day of the logical date``; two runs on
  consecutive days load every row, then only the new one.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Asset, get_current_context, task

from examples.dags._common import DatabricksRun, setting
from resumable import Checkpoint, Window, checkpoint, watermark

ROWS = Asset("resumable_state_backend_rows")


@task(retries=1, retry_delay=timedelta(0))
@checkpoint(key="page")
def pages(cp: Checkpoint) -> dict[str, Any]:
    """Commit pages 1..10; try 1 dies at page 6."""
    first_try = get_current_context()["ti"].try_number == 1
    resumed_from, done = cp.position, []
    for page in cp.resume(range(1, 11)):
        if first_try and page == 6:
            raise RuntimeError("try 1 dies at page 6")
        done.append(page)
    return {"resumed_from": resumed_from, "pages": done}


@task(outlets=[ROWS])
@watermark(ROWS, cursor="n", primary_key="id", initial=0)
def rows(window: Window) -> list[int]:
    """Keep the rows past the stored cursor of ``1..day``."""
    day = get_current_context()["logical_date"].day
    return [row["id"] for row in window.filter({"id": i, "n": i} for i in range(1, day + 1))]


with DAG("resumable_state_backend_tools", schedule=None,
         start_date=datetime(2026, 1, 1, tzinfo=timezone.utc), catchup=False):
    DatabricksRun(
        task_id="job", host=setting("DATABRICKS_HOST", "http://127.0.0.1:8443"),
        run_name="state-backend", poll_interval=float(setting("POLL_INTERVAL", "0.1")),
        tasks=[{"task_key": "main", "notebook_task": {"notebook_path": "/Shared/x"}}],
        poll_timeout=120, retries=1, retry_delay=timedelta(0))
    pages()
    rows()

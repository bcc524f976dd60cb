"""Airflow DAGs ``resumable_state_backend_big`` and ``_small``: a task that stores big values,
dies, and reads them back on its retry, through Airflow's own ``task_state_store`` and
``asset_state_store``; and a task that stores small values with each kind of retention.

With ``store_client.airflow.StoreBackend`` as the worker-side backend the values live in
our store and Airflow keeps references; as the server-side backend Airflow's state rows
live in our tables. The DAG itself does not know which: that is the point.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, NEVER_EXPIRE, Asset, task

BIG_ASSET = Asset("resumable_big_asset")
BIG = {"rows": ["x" * 1024] * 300}  # 300 KiB of JSON, over Airflow's 65,535-byte limit


@task(outlets=[BIG_ASSET], retries=1, retry_delay=timedelta(0))
def big_values(**context: Any) -> dict[str, Any]:
    """Try 1 writes and dies; try 2 reads what try 1 wrote."""
    tasks, assets = context["task_state_store"], context["asset_state_store"]
    if context["ti"].try_number == 1:
        tasks.set("big", BIG, retention=NEVER_EXPIRE)
        assets.set("big", BIG)
        raise RuntimeError("try 1 dies after writing")
    return {"task": tasks.get("big") == BIG, "asset": assets.get("big") == BIG}


@task
def small_values(**context: Any) -> None:
    """Values with each kind of retention, and one deleted."""
    tasks = context["task_state_store"]
    tasks.set("job_id", "j-1", retention=NEVER_EXPIRE)
    tasks.set("page", 3)  # [state_store] default_retention_days
    tasks.set("brief", 1, retention=timedelta(seconds=1))
    tasks.set("gone", 1)
    tasks.delete("gone")


START = datetime(2026, 1, 1, tzinfo=timezone.utc)

with DAG("resumable_state_backend_big", schedule=None, start_date=START, catchup=False):
    big_values()

with DAG("resumable_state_backend_small", schedule=None, start_date=START, catchup=False):
    small_values()

"""Airflow DAG ``resumable_interval_load``: copy the orders of each run's data interval, daily.

How it works: ``load_orders_by_day`` is ``@task(outlets=[orders_by_day])`` stacked on
``@watermark(orders_by_day, cursor="updated_at", primary_key="id",
allow_external_schedulers=True)``. Inside the running task the window is the run's data
interval, ``[data_interval_start, data_interval_end)``, not the stored cursor: the
function selects the rows in it (``window.where(orders.c.updated_at)``), upserts the ones
``window.filter`` keeps and returns the window with the ids it loaded. A scheduled or
manual run still moves the cursor in Airflow's asset store of ``orders_by_day`` forward
(never backwards) to the largest ``updated_at`` loaded, so the opt-in can be switched off
later and the load goes on from there; a backfill run (``dag_run.run_type`` is
``"backfill"``) neither reads nor writes it.

The schedule is ``CronDataIntervalTimetable("@daily", timezone="UTC")``, not the string
``"@daily"``: Airflow 3 turns a cron string into a ``CronTriggerTimetable`` (unless
``[scheduler] create_cron_data_intervals`` is on), whose runs have a zero-width data
interval (``data_interval_start == data_interval_end``), which would make every window
empty. With this timetable a scheduled run covers the day before it fires, a manual run
(``dag.test(logical_date=D)``) the last whole day before ``D``, and a backfill run the
day its logical date starts.

Settings (``RESUMABLE_EXAMPLE_...``): ``ORDERS_SOURCE`` and ``ORDERS_TARGET``
(SQLAlchemy URLs; the target table is created if missing), as for
``resumable_incremental_load``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, task

from examples.dags._common import RETRIES, START, retry_delay, setting
from examples.incremental_load.load import INITIAL, KEY
from examples.incremental_load.tables import copy_window
from resumable import Window, watermark

ASSET = "orders_by_day"
ORDERS_BY_DAY = Asset(ASSET)


@task(outlets=[ORDERS_BY_DAY], retries=RETRIES, retry_delay=retry_delay())
@watermark(ORDERS_BY_DAY, cursor="updated_at", primary_key="id", initial=INITIAL, key=KEY,
           allow_external_schedulers=True)
def load_orders_by_day(window: Window, source: str, target: str) -> dict[str, Any]:
    """Upsert the orders updated in the run's data interval; return what it did."""
    _, loaded = copy_window(window, source, target)
    return {"window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
            "loaded": loaded}


with DAG("resumable_interval_load", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
         start_date=START, catchup=False, tags=["resumable", "watermark"]):
    load_orders_by_day(source=setting("ORDERS_SOURCE", "sqlite:////tmp/resumable-orders.db"),
                       target=setting("ORDERS_TARGET", "sqlite:////tmp/resumable-orders-copy.db"))

"""Airflow DAG ``resumable_incremental_load``: copy the orders changed since the last run.

How it works: ``load_orders`` is ``@task(outlets=[orders])`` stacked on
``@watermark(orders, cursor="updated_at", primary_key="id")``. Airflow sees the function
without its ``window`` parameter; the decorator opens the window on Airflow's own asset
state store of ``orders`` (the task declares the asset as an outlet, which is what gives
it that store), the function selects the rows in the window
(``window.where(orders.c.updated_at)``) and upserts the ones ``window.filter`` keeps,
and the cursor advances to the largest ``updated_at`` loaded only when the function
returned. Airflow's asset store has no
compare-and-set: it is emulated (read, compare, write), see
``store_client._airflow_context``; pass ``store=connect(url)`` to ``@watermark`` for an
atomic cursor in a SQL store instead.

Settings (``RESUMABLE_EXAMPLE_...``): ``ORDERS_SOURCE`` and ``ORDERS_TARGET``
(SQLAlchemy URLs; the target table is created if missing).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, task

from examples.dags._common import RETRIES, START, retry_delay, setting
from examples.incremental_load.load import ASSET, INITIAL, KEY
from examples.incremental_load.tables import copy_window
from resumable import Window, watermark

ORDERS = Asset(ASSET)


@task(outlets=[ORDERS], retries=RETRIES, retry_delay=retry_delay())
@watermark(ORDERS, cursor="updated_at", primary_key="id", initial=INITIAL, key=KEY)
def load_orders(window: Window, source: str, target: str) -> dict[str, Any]:
    """Upsert the orders changed since the stored cursor; return what it did."""
    selected, loaded = copy_window(window, source, target)
    return {"window_start": window.start.isoformat(), "selected": selected, "loaded": loaded}


with DAG("resumable_incremental_load", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "watermark"]):
    load_orders(source=setting("ORDERS_SOURCE", "sqlite:////tmp/resumable-orders.db"),
                target=setting("ORDERS_TARGET", "sqlite:////tmp/resumable-orders-copy.db"))

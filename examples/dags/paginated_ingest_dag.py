"""Airflow DAG ``resumable_paginated_ingest``: paginated ingest that resumes at the failed page.

How it works: two tasks read the example API (``examples.paginated_ingest.server``) into
one target database, each keeping its checkpoint in Airflow's task state store:

- ``ingest_pages`` is ``@task`` stacked on ``@checkpoint``: Airflow sees the function
  without its ``cp`` parameter and the decorator injects the checkpoint at run time. It
  walks ``cp.resume(range(1, total + 1))``, so a retry starts at the first page whose
  load did not finish;
- ``ingest_tokens`` is a plain ``@task`` calling the example's own checkpointed
  ``ingest_by_token()`` function, which finds the running task's store by itself and
  resumes from the committed next-page token.

The checkpoints are deleted when a task succeeds (``clear_on_success``), so a cleared
and re-run task starts from page 1. Settings (``RESUMABLE_EXAMPLE_...``):
``INGEST_SERVER`` (the API's URL), ``INGEST_TARGET`` (a SQLite path or SQLAlchemy URL).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, task

from examples.dags._common import RETRIES, START, retry_delay, setting
from examples.paginated_ingest.ingest import PageApi, Target, ingest_by_token
from resumable import Checkpoint, checkpoint


@task(retries=RETRIES, retry_delay=retry_delay())
@checkpoint(key="page")
def ingest_pages(cp: Checkpoint, server: str, target: str) -> dict[str, Any]:
    """Load every page by number; a retry resumes at the first page not loaded."""
    api, db = PageApi(server), Target(target)
    resumed_from, pages = cp.position, []
    try:
        for page in cp.resume(range(1, api.total_pages() + 1)):
            db.load_page(page, api.page(page))
            pages.append(page)
    finally:
        api.close()
        db.close()
    return {"resumed_from": resumed_from, "pages": pages}


@task(retries=RETRIES, retry_delay=retry_delay())
def ingest_tokens(server: str, target: str) -> dict[str, Any]:
    """Load every page by next-page token with the example's checkpointed function."""
    api, db = PageApi(server), Target(target)
    try:
        summary = ingest_by_token()(api, db)
    finally:
        api.close()
        db.close()
    return {"resumed_from": summary.resumed_from, "pages": summary.pages}


with DAG("resumable_paginated_ingest", schedule=None, start_date=START, catchup=False,
         tags=["resumable", "checkpoint"]):
    server = setting("INGEST_SERVER", "http://127.0.0.1:8000")
    target = setting("INGEST_TARGET", "/tmp/resumable-ingest.db")
    ingest_pages(server=server, target=target)
    ingest_tokens(server=server, target=target)

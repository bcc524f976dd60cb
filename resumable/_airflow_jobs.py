"""The jobs Airflow tasks stored in Airflow's own task state store, read from its database.

How it works: :func:`stored_jobs` opens Airflow's metadata database (the URL is Airflow's
``[database] sql_alchemy_conn``; SQLite or PostgreSQL) read-only, through
``store_client.airflow_db`` (which checks the table and translates errors), then runs one
query: the rows whose key starts with
``resumable.job/`` (``LIKE``, prefix escaped; ``dag``/``run`` in the ``WHERE`` clause, as
Airflow's ``idx_task_state_store_lookup`` serves), each left-joined to the row of the same
task instance holding the bare job ID (found through Airflow's unique constraint).
Values are JSON text (Airflow's Execution API stores ``json.dumps(value)``), decoded with
``json.loads``. ``resumable._cli`` makes the same rows of them as of our own stores.

What it does not do: write (see ``store_client.airflow_db``). Resolve values kept by a custom
``[state_store] backend`` (the table holds ``{"__airflow_state_ref__": ...}``: such records
are left out). List IDs stored by Airflow's own ``ResumableJobMixin`` alone (no record).

Limits: SQLite and PostgreSQL only. ``expires_at`` is ignored (Airflow reads expired keys
until ``airflow state-store clean``).
"""

from __future__ import annotations

import json
from typing import Any, Final, NamedTuple

from sqlalchemy import and_, func, select
from sqlalchemy.sql import Select

from resumable._job_record import META_PREFIX
from store_client.airflow_db import (
    ENV_AIRFLOW_DB,
    TABLE,
    like_prefix,
    read_only_engine,
    reading,
)
from store_client.airflow_db import task_state as _store

__all__ = ["ENV_AIRFLOW_DB", "TABLE", "StoredJob", "like_prefix", "read_only_engine",
           "stored_jobs"]

_REF: Final = "__airflow_state_ref__"


class StoredJob(NamedTuple):
    """One job record as stored: its task instance, ID key, decoded ID and record."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    external_id_key: str
    external_id: Any  # None when no ID is stored under external_id_key
    meta: Any

    @property
    def scope(self) -> str:
        """The task instance as ``TaskScope`` prints it: ``dag/run/task[index]``."""
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}/{self.run_id}/{self.task_id}{suffix}"


def _query(dag: str | None, run: str | None) -> Select[Any]:
    meta, ids = _store.alias("meta"), _store.alias("ids")
    joined = meta.outerjoin(ids, and_(
        ids.c.dag_run_id == meta.c.dag_run_id, ids.c.task_id == meta.c.task_id,
        ids.c.map_index == meta.c.map_index,
        ids.c.key == func.substr(meta.c.key, len(META_PREFIX) + 1)))
    query = (select(meta.c.dag_id, meta.c.run_id, meta.c.task_id, meta.c.map_index,
                    meta.c.key, meta.c.value, ids.c.value.label("id_value"))
             .select_from(joined)
             .where(meta.c.key.like(like_prefix(META_PREFIX), escape="\\"))
             .order_by(meta.c.id))
    if dag is not None:
        query = query.where(meta.c.dag_id == dag)
    if run is not None:
        query = query.where(meta.c.run_id == run)
    return query


def _decode(stored: Any) -> Any:
    try:
        return None if stored is None else json.loads(stored)
    except ValueError:
        return stored  # not JSON: shown as stored


def _job(row: Any) -> StoredJob | None:
    key = str(row.key)
    if not key.startswith(META_PREFIX):  # SQLite's LIKE ignores ASCII case
        return None
    meta = _decode(row.value)
    if isinstance(meta, dict) and _REF in meta:  # kept by a custom state store backend
        return None
    return StoredJob(str(row.dag_id), str(row.run_id), str(row.task_id), int(row.map_index),
                     key[len(META_PREFIX):], _decode(row.id_value), meta)


def stored_jobs(url: str, *, dag: str | None = None,
                run: str | None = None) -> list[StoredJob]:
    """The job records in the ``task_state_store`` of Airflow's metadata database at
    ``url``, oldest row first; only those of ``dag`` / ``run`` when given.

    Read-only. A missing database or table raises ``ConfigurationError``; an unreachable
    server ``StoreUnavailableError`` (or ``StoreAuthError``); the URL's password is never
    shown.
    """
    with reading(url) as conn:
        rows = conn.execute(_query(dag, run)).all()
    return [job for row in rows if (job := _job(row)) is not None]

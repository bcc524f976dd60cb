"""The jobs Airflow tasks stored in Airflow's own task state store, read from its database.

How it works: :func:`stored_jobs` opens Airflow's metadata database (the URL is Airflow's
``[database] sql_alchemy_conn``; SQLite or PostgreSQL) read-only: SQLite through a
``mode=ro`` URI plus ``PRAGMA query_only``, PostgreSQL with ``default_transaction_read_only``
and ``SET TRANSACTION READ ONLY``. It checks that Airflow 3.3's ``task_state_store`` has
the columns read here, then runs one query: the rows whose key starts with
``resumable.job/`` (``LIKE``, prefix escaped; ``dag``/``run`` in the ``WHERE`` clause, as
Airflow's ``idx_task_state_store_lookup`` serves), each left-joined to the row of the same
task instance holding the bare job ID (found through Airflow's unique constraint).
Values are JSON text (Airflow's Execution API stores ``json.dumps(value)``), decoded with
``json.loads``. ``resumable._cli`` makes the same rows of them as of our own stores.

What it does not do: write, or create tables or files, except SQLite's ``-wal``/``-shm``
companions, which a reader of a WAL-mode file (Airflow's default) needs and SQLite
creates when missing (the database file is not changed). Resolve values kept by a custom
``[state_store] backend`` (the table holds ``{"__airflow_state_ref__": ...}``: such records
are left out). List IDs stored by Airflow's own ``ResumableJobMixin`` alone (no record).

Limits: SQLite and PostgreSQL only. The table is found through PostgreSQL's search path:
for a ``sql_alchemy_schema`` other than ``public`` add ``?options=-csearch_path%3DSCHEMA``.
``expires_at`` is ignored (Airflow reads expired keys until ``airflow state-store clean``).
Waits: connecting, ``RESUMABLE_CONNECT_TIMEOUT`` (5 s); a statement 30 s (PostgreSQL);
a lock 10 s (SQLite).
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
from pathlib import Path
from typing import Any, Final, NamedTuple
from urllib.parse import quote

from sqlalchemy import Engine, and_, column, create_engine, func, inspect, select, table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import Select

from resumable._job_record import META_PREFIX
from store_client import (
    ConfigurationError,
    StoreAuthError,
    StoreBackendError,
    StoreError,
    StoreUnavailableError,
    redact_url,
)

__all__ = ["ENV_AIRFLOW_DB", "TABLE", "StoredJob", "like_prefix", "read_only_engine",
           "stored_jobs"]

#: The environment variable ``resumable jobs`` reads when ``--airflow-db`` is not given.
ENV_AIRFLOW_DB: Final = "RESUMABLE_AIRFLOW_DB"
TABLE: Final = "task_state_store"
_COLUMNS: Final = ("id", "dag_run_id", "dag_id", "run_id", "task_id", "map_index", "key",
                   "value")
_REF: Final = "__airflow_state_ref__"
_STATEMENT_TIMEOUT_MS: Final = 30_000
_LOCK_TIMEOUT_S: Final = 10.0
_AUTH_FAILED: Final = ("password authentication failed", "FATAL: role", "no pg_hba.conf entry",
                       "no password supplied")
_NUMBER: Final = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
_store = table(TABLE, *(column(name) for name in _COLUMNS))


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


def _connect_timeout() -> int:
    raw = os.environ.get("RESUMABLE_CONNECT_TIMEOUT", "").strip() or "5"
    if not _NUMBER.fullmatch(raw) or not 0 < float(raw) <= 86400:
        raise ConfigurationError(f"RESUMABLE_CONNECT_TIMEOUT={raw!r:.40} is not a number of "
                                 "seconds from 0 to 86400")
    return max(2, math.ceil(float(raw)))  # libpq's smallest useful value


def _sqlite_engine(parsed: URL, shown: str) -> Engine:
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise ConfigurationError(f"Airflow metadata database {shown!r}: give the path of "
                                 "its SQLite file (sqlite:////PATH/airflow.db)")
    path = Path(database).expanduser()
    if not path.is_file():
        raise ConfigurationError(f"no Airflow metadata database at {shown!r}: "
                                 f"{str(path)!r} is not a file (nothing was created)")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"

    def connect_read_only() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=_LOCK_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    return create_engine("sqlite://", creator=connect_read_only, poolclass=NullPool)


def _postgres_engine(parsed: URL) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigurationError("reading a PostgreSQL Airflow database needs psycopg: "
                                 "pip install 'resumable[postgres]'") from None
    options = (f"-c default_transaction_read_only=on "
               f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}")
    given = parsed.query.get("options")
    if isinstance(given, str):
        options = f"{given} {options}"  # ours last: the URL cannot turn read-only off
    return create_engine(parsed.set(drivername="postgresql+psycopg"), poolclass=NullPool,
                         connect_args={"connect_timeout": _connect_timeout(),
                                       "options": options})


def read_only_engine(url: str) -> Engine:
    """An engine on Airflow's metadata database at ``url`` whose connections cannot write."""
    shown = redact_url(url)
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018  (a bad port raises here)
    except (sa_exc.ArgumentError, ValueError):
        raise ConfigurationError(f"Airflow metadata database {shown!r} is not a database URL "
                                 "(sqlite:////PATH/airflow.db or postgresql://...)") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, shown)
    if backend in ("postgresql", "postgres"):
        return _postgres_engine(parsed)
    raise ConfigurationError(f"Airflow metadata database {shown!r}: {backend!r} is not "
                             "supported (SQLite or PostgreSQL)")


def like_prefix(prefix: str) -> str:
    """A ``LIKE`` pattern (escape character ``\\``) matching what starts with ``prefix``."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


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


def _translate(exc: sa_exc.SQLAlchemyError, shown: str) -> StoreError:
    detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:300]
    if ("database" in detail and "does not exist" in detail) or "not a database" in detail:
        return ConfigurationError(f"no Airflow metadata database at {shown!r}: {detail}")
    if any(marker in detail for marker in _AUTH_FAILED):
        return StoreAuthError(f"Airflow metadata database {shown!r} refused the credentials: "
                              f"{detail}")
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return StoreUnavailableError(f"Airflow metadata database {shown!r} is unavailable: "
                                     f"{detail}")
    return StoreBackendError(f"reading {TABLE} from {shown!r} failed: {detail}")


def stored_jobs(url: str, *, dag: str | None = None,
                run: str | None = None) -> list[StoredJob]:
    """The job records in the ``task_state_store`` of Airflow's metadata database at
    ``url``, oldest row first; only those of ``dag`` / ``run`` when given.

    Read-only. A missing database or table raises ``ConfigurationError``; an unreachable
    server ``StoreUnavailableError`` (or ``StoreAuthError``); the URL's password is never
    shown.
    """
    shown = redact_url(url)
    engine = read_only_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET TRANSACTION READ ONLY"))
            found = inspect(conn)
            if not found.has_table(TABLE):
                raise ConfigurationError(f"{shown!r} has no table {TABLE} (not the metadata "
                                         "database of Airflow 3.3 or later?)")
            if missing := set(_COLUMNS) - {c["name"] for c in found.get_columns(TABLE)}:
                raise ConfigurationError(f"table {TABLE} of {shown!r} lacks the columns "
                                         f"{', '.join(sorted(missing))} (not Airflow 3.3's?)")
            rows = conn.execute(_query(dag, run)).all()
    except sa_exc.SQLAlchemyError as exc:
        raise _translate(exc, shown) from None
    finally:
        engine.dispose()
    return [job for row in rows if (job := _job(row)) is not None]

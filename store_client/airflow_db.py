"""Airflow's metadata database, read-only: for ``resumable jobs --airflow-db`` and for
deleting worker-side values whose reference Airflow no longer holds.

How it works: :func:`read_only_engine` opens the database at a URL (Airflow's
``[database] sql_alchemy_conn``; SQLite or PostgreSQL) so that it cannot write: SQLite
through a ``mode=ro`` URI plus ``PRAGMA query_only``, PostgreSQL with
``default_transaction_read_only``. :func:`reading` yields a connection in a read-only
transaction after checking that Airflow 3.3's ``task_state_store`` has the columns the
callers read, and translates errors into the store client's tree (a missing database or
table is a ``ConfigurationError``, an unreachable server ``StoreUnavailableError``).
:func:`our_references` lists the task-state rows that hold a reference of ours.

What it does not do: write, or create tables or files, except SQLite's ``-wal``/``-shm``
companions, which a reader of a WAL-mode file (Airflow's default) needs and SQLite
creates when missing (the database file is not changed). It needs no Airflow install.

Limits: the table is found through PostgreSQL's search path: for a
``sql_alchemy_schema`` other than ``public`` add ``?options=-csearch_path%3DSCHEMA``.
Waits: connecting, ``RESUMABLE_CONNECT_TIMEOUT`` (5 s); a statement 30 s (PostgreSQL);
a lock 10 s (SQLite).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Final
from urllib.parse import quote

from sqlalchemy import Connection, Engine, column, create_engine, inspect, select, table, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from store_client._airflow_refs import REF_PREFIX
from store_client._config import redact_url
from store_client._errors import (
    ConfigurationError,
    StoreAuthError,
    StoreBackendError,
    StoreError,
    StoreUnavailableError,
)

__all__ = ["ENV_AIRFLOW_DB", "TABLE", "like_prefix", "our_references", "read_only_engine",
           "reading", "task_state"]

#: The environment variable the CLI reads when ``--airflow-db`` is not given.
ENV_AIRFLOW_DB: Final = "RESUMABLE_AIRFLOW_DB"
TABLE: Final = "task_state_store"
COLUMNS: Final = ("id", "dag_run_id", "dag_id", "run_id", "task_id", "map_index", "key",
                  "value")
_STATEMENT_TIMEOUT_MS: Final = 30_000
_LOCK_TIMEOUT_S: Final = 10.0
_AUTH_FAILED: Final = ("password authentication failed", "FATAL: role", "no pg_hba.conf entry",
                       "no password supplied")
_NUMBER: Final = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
#: Airflow's ``task_state_store``, as far as it is read here.
task_state = table(TABLE, *(column(name) for name in COLUMNS))


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


@contextlib.contextmanager
def reading(url: str) -> Iterator[Connection]:
    """A read-only connection to Airflow's metadata database at ``url``, its
    ``task_state_store`` checked; errors translated, the password never shown."""
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
            if missing := set(COLUMNS) - {c["name"] for c in found.get_columns(TABLE)}:
                raise ConfigurationError(f"table {TABLE} of {shown!r} lacks the columns "
                                         f"{', '.join(sorted(missing))} (not Airflow 3.3's?)")
            yield conn
    except sa_exc.SQLAlchemyError as exc:
        raise _translate(exc, shown) from None
    finally:
        engine.dispose()


def our_references(url: str) -> set[tuple[str, str, str, int, str]]:
    """(dag, run, task, map index, key) of every ``task_state_store`` row of Airflow's
    database at ``url`` that holds a reference of ours (expired or not: Airflow serves a
    row until ``airflow state-store clean`` deletes it)."""
    t = task_state.c
    query = select(t.dag_id, t.run_id, t.task_id, t.map_index, t.key).where(
        t.value.like("%" + like_prefix(REF_PREFIX)[:-1] + "%", escape="\\"))
    with reading(url) as conn:
        return {(str(d), str(r), str(k), int(m), str(key))
                for d, r, k, m, key in conn.execute(query)}

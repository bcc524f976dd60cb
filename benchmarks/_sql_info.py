"""What the benchmarks ask of a store client's SQL backend beyond the public API.

How it works: :func:`sql_backend` is the client's ``SqlBackend`` (a ``TypeError`` for
any other backend); :func:`analyze` refreshes PostgreSQL's statistics after a bulk
load (what autovacuum would soon do); :func:`describe_sqlite` and
:func:`describe_postgres` read the settings really in force, for the notes the scripts
print beside their figures.

What it does not do: change a setting, or reach into the backend to time anything.
"""

from __future__ import annotations

from sqlalchemy import text

from benchmarks._raw_floor import sqlite_settings
from store_client import StoreClient
from store_client._sql import SqlBackend

__all__ = ["analyze", "describe_postgres", "describe_sqlite", "sql_backend"]


def sql_backend(client: StoreClient) -> SqlBackend:
    """The client's SQL backend (raises on any other backend)."""
    backend = client.backend
    if not isinstance(backend, SqlBackend):
        raise TypeError(f"expected a SQL backend, got {type(backend).__name__}")
    return backend


def analyze(client: StoreClient) -> None:
    """``ANALYZE`` the task table on PostgreSQL (what autovacuum does after a bulk load)."""
    engine = sql_backend(client).engine
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE resumable_task_state"))


def describe_sqlite(client: StoreClient) -> str:
    """The journal mode and synchronous level our backend really set."""
    with sql_backend(client).engine.connect() as conn:
        journal = conn.execute(text("PRAGMA journal_mode")).scalar()
        sync = conn.execute(text("PRAGMA synchronous")).scalar()
    return sqlite_settings(journal, sync)


def describe_postgres(client: StoreClient) -> str:
    """The server version and its fsync/synchronous_commit settings."""
    with sql_backend(client).engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        fsync = conn.execute(text("SHOW fsync")).scalar()
        sync_commit = conn.execute(text("SHOW synchronous_commit")).scalar()
    return f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync_commit}"

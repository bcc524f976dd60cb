"""The raw database floor: our store's statements on a plain DB-API connection.

What it is: :class:`RawStore` runs the statements our SQL store runs (the task upsert
and live read, the asset ``UPDATE ... WHERE value = expected RETURNING``, the asset
read) on a plain ``sqlite3`` connection (implicit transactions, committed after each
write; ``journal_mode=WAL``, ``synchronous=NORMAL``) or a ``psycopg`` connection with
``autocommit=True``. Tables have our shape, values are the same JSON texts and
datetimes are stored as ours stores them (naive UTC text on SQLite, ``timestamptz`` on
PostgreSQL). ``store_ops.py``, ``contention.py`` and ``checkpoint_overhead.py`` time
their operations against it.

What it does not do: validate, encode or decode JSON, retry, or pool connections:
that is what the store client adds, and what the benchmarks measure.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["ASSET", "SCOPE", "RawStore", "describe_raw_sqlite", "open_raw_postgres",
           "open_raw_sqlite", "sqlite_settings"]

SCOPE = ("bench_dag", "run_1", "extract", -1)  # the task row's (dag, run, task, map index)
ASSET = "orders"  # the asset every raw asset statement targets
RETENTION = timedelta(days=30)  # our default retention: the expiry a set writes
SQLITE_TIMEOUT_S = 30.0  # how long a raw sqlite3 statement waits for a lock
SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

DDL = (
    "CREATE TABLE resumable_task_state (id {id} PRIMARY KEY, dag_id VARCHAR(250) NOT NULL, "
    "run_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, map_index INTEGER NOT NULL, "
    "key VARCHAR(250) NOT NULL, value TEXT NOT NULL, updated_at {ts} NOT NULL, "
    "expires_at {ts}, CONSTRAINT uq_resumable_task_state "
    "UNIQUE (dag_id, run_id, task_id, map_index, key))",
    "CREATE INDEX ix_resumable_task_state_expires_at ON resumable_task_state (expires_at)",
    "CREATE TABLE resumable_asset_state (asset VARCHAR(1500) NOT NULL, "
    "key VARCHAR(250) NOT NULL, value TEXT NOT NULL, updated_at {ts} NOT NULL, "
    "PRIMARY KEY (asset, key))",
)
UPSERT = ("INSERT INTO resumable_task_state (dag_id, run_id, task_id, map_index, key, value, "
          "updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
          "ON CONFLICT (dag_id, run_id, task_id, map_index, key) DO UPDATE SET "
          "value = excluded.value, updated_at = excluded.updated_at, "
          "expires_at = excluded.expires_at")
SELECT = ("SELECT value FROM resumable_task_state WHERE dag_id = ? AND run_id = ? "
          "AND task_id = ? AND map_index = ? AND key = ? "
          "AND (expires_at IS NULL OR expires_at > ?)")
CAS = ("UPDATE resumable_asset_state SET value = ?, updated_at = ? "
       "WHERE asset = ? AND key = ? AND value = ? RETURNING key")
READ_ASSET = "SELECT value FROM resumable_asset_state WHERE asset = ? AND key = ?"
SEED_ASSET = ("INSERT INTO resumable_asset_state (asset, key, value, updated_at) "
              "VALUES (?, ?, ?, ?)")


def sqlite_text(moment: datetime) -> str:
    """A datetime as our SQLite store writes it: naive UTC text with microseconds."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(
        sep=" ", timespec="microseconds")


def same_moment(moment: datetime) -> datetime:
    """A datetime as psycopg takes it for ``timestamptz``: unchanged."""
    return moment


def _now() -> datetime:
    return datetime.now(timezone.utc)


class RawStore:
    """Our statements on a plain DB-API connection: the floor under the store client.

    ``conn`` is a ``sqlite3`` connection (implicit transactions, committed here after
    each write) or a ``psycopg`` one with ``autocommit=True`` (every statement its own
    transaction). ``scope`` is the task row's (dag_id, run_id, task_id, map_index).
    The statements' placeholders are set once here, not per call.
    """

    def __init__(self, conn: Any, *, postgres: bool,
                 scope: tuple[str, str, str, int] = SCOPE) -> None:
        self.conn = conn
        self.scope = scope
        self.postgres = postgres
        self._stamp: Callable[[datetime], object] = same_moment if postgres else sqlite_text
        upsert, select, cas, read, seed = ((s.replace("?", "%s") if postgres else s)
                                           for s in (UPSERT, SELECT, CAS, READ_ASSET,
                                                     SEED_ASSET))
        self._upsert, self._select, self._cas, self._read, self._seed = (
            upsert, select, cas, read, seed)

    def create_tables(self) -> None:
        for statement in DDL:
            self.conn.execute(statement.format(
                id="BIGSERIAL" if self.postgres else "INTEGER",
                ts="TIMESTAMP WITH TIME ZONE" if self.postgres else "DATETIME"))
        self._done()

    def _done(self) -> None:
        if not self.postgres:
            self.conn.commit()

    def upsert(self, key: str, value: str) -> None:
        """``set``: insert or overwrite one task row, expiring after our default retention."""
        now = _now()
        self.conn.execute(self._upsert, (*self.scope, key, value, self._stamp(now),
                                         self._stamp(now + RETENTION)))
        self._done()

    def select(self, key: str) -> str | None:
        """``get``: the live value of one task row."""
        rows = self.conn.execute(self._select, (*self.scope, key,
                                                self._stamp(_now()))).fetchall()
        return str(rows[0][0]) if rows else None

    def update_if(self, key: str, expected: str, new: str) -> bool:
        """``compare_and_set``: set the asset row to ``new`` if it holds ``expected``."""
        rows = self.conn.execute(self._cas, (new, self._stamp(_now()), ASSET, key,
                                             expected)).fetchall()
        self._done()
        return bool(rows)

    def read_asset(self, key: str) -> str | None:
        """The asset ``get``: the value of one asset row."""
        rows = self.conn.execute(self._read, (ASSET, key)).fetchall()
        return str(rows[0][0]) if rows else None

    def seed_counter(self, key: str, value: int) -> None:
        """Create the asset row ``key`` holding ``value``."""
        self.conn.execute(self._seed, (ASSET, key, str(value), self._stamp(_now())))
        self._done()

    def close(self) -> None:
        self.conn.close()


def open_raw_sqlite(path: Path, scope: tuple[str, str, str, int] = SCOPE, *,
                    create: bool = True) -> RawStore:
    """A raw ``sqlite3`` floor on ``path``: WAL, ``synchronous=NORMAL``; with ``create``
    (a new file) our tables are created."""
    conn = sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    raw = RawStore(conn, postgres=False, scope=scope)
    if create:
        raw.create_tables()
    return raw


def open_raw_postgres(conninfo: str, scope: tuple[str, str, str, int] = SCOPE, *,
                      create: bool = True) -> RawStore:
    """A raw ``psycopg`` floor (autocommit); with ``create`` (an empty database) our
    tables are created."""
    import psycopg

    raw = RawStore(psycopg.connect(conninfo, autocommit=True), postgres=True, scope=scope)
    if create:
        raw.create_tables()
    return raw


def sqlite_settings(journal: object, sync: object) -> str:
    """``journal_mode=..., synchronous=...`` from the two PRAGMAs' answers."""
    level = SYNC_NAMES.get(int(str(sync)), str(sync)) if str(sync).isdigit() else str(sync)
    return f"journal_mode={journal}, synchronous={level}"


def describe_raw_sqlite(raw: RawStore) -> str:
    """The journal mode and synchronous level the raw connection really runs with."""
    return sqlite_settings(raw.conn.execute("PRAGMA journal_mode").fetchone()[0],
                           raw.conn.execute("PRAGMA synchronous").fetchone()[0])

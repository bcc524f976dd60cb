"""The SQL store's tables and its schema version, created on first use.

How it works: three tables. ``resumable_task_state`` holds task-store rows keyed by
``(dag_id, run_id, task_id, map_index, key)`` with an integer surrogate ``id`` (so
cleanup can delete in portable batches) and a nullable ``expires_at`` (NULL = never).
``resumable_asset_state`` holds asset-store rows keyed by ``(asset, key)``; assets
never expire. ``resumable_meta`` holds ``schema_version``. Task keys have an index of
their own (``KEY_INDEX``, in code-point order) for prefix scans within the library's
``NAMESPACE``. :func:`ensure_schema`
creates what is missing with ``CREATE ... IF NOT EXISTS`` (on PostgreSQL under an advisory lock,
since concurrent ``CREATE TABLE IF NOT EXISTS`` can still collide there), records the
version, and refuses a store written by a newer release. ``MIGRATIONS`` maps a version
to the function that upgrades a store from it to the next one; a release that changes
the tables adds an entry there.

Timestamps are stored in UTC: ``timestamptz`` on PostgreSQL, naive UTC text on SQLite
(whose text comparison then orders them correctly); Python always sees aware datetimes.

What it does not do: downgrade, or migrate from anything but an older schema of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeDecorator

from store_client._errors import ConfigurationError, SchemaVersionError

__all__ = ["KEY_INDEX", "MIGRATIONS", "NAMESPACE", "SCHEMA_VERSION", "asset_state",
           "ensure_schema", "meta", "namespace_end", "task_state"]

SCHEMA_VERSION: Final = 1
#: The index of task keys in :data:`NAMESPACE`, for prefix scans (the job listing). Added
#: without a version change: it only speeds reads, and every release creates what is
#: missing on first use.
KEY_INDEX: Final = "ix_resumable_task_state_ns_key"
#: The keys the library keeps for itself (job records, claims): the only ones indexed
#: for prefix scans.
NAMESPACE: Final = "resumable."


def namespace_end() -> str:
    """The least key above every key in :data:`NAMESPACE`."""
    return NAMESPACE[:-1] + chr(ord(NAMESPACE[-1]) + 1)
_ADVISORY_LOCK_ID: Final = 0x7265_7375_6D61  # "resuma"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(timezone.utc)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


metadata = MetaData()

_Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only

task_state = Table(
    "resumable_task_state",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("dag_id", String(250), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("task_id", String(250), nullable=False),
    Column("map_index", Integer, nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    UniqueConstraint(
        "dag_id", "run_id", "task_id", "map_index", "key", name="uq_resumable_task_state"
    ),
)
Index("ix_resumable_task_state_expires_at", task_state.c.expires_at)

asset_state = Table(
    "resumable_asset_state",
    metadata,
    Column("asset", String(1500), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

meta = Table(
    "resumable_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(250), nullable=False),
)

#: version -> function upgrading a store at that version to version + 1.
MIGRATIONS: Final[dict[int, Callable[[Connection], None]]] = {}


def _create_missing(conn: Connection) -> None:
    for table in metadata.sorted_tables:
        conn.execute(CreateTable(table, if_not_exists=True))
        for index in table.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
    # Key-prefix scans (the job listing) walk this index as a range in code-point order:
    # SQLite's default; PostgreSQL's "C" collation, which SQLite does not know. Only the
    # library's own keys are in it: an index of every key would be one more scattered
    # index to update per deleted row (cleanup then slows as the table grows).
    key = 'key COLLATE "C"' if conn.dialect.name == "postgresql" else "key"
    low, high = NAMESPACE, namespace_end()
    conn.execute(text(
        f"CREATE INDEX IF NOT EXISTS {KEY_INDEX} ON {task_state.name} ({key}) "
        f"WHERE {key} >= '{low}' AND {key} < '{high}'"))



def ensure_schema(engine: Engine, *, create: bool = True) -> int:
    """Create missing tables, migrate an older schema, and return the schema version.

    With ``create=False`` nothing is created: a database without our tables is a
    :class:`ConfigurationError` (a mistyped URL must not make a new store).
    """
    if not create and not inspect(engine).has_table(meta.name):
        where = engine.url.render_as_string(hide_password=True)
        raise ConfigurationError(
            f"no store at {where!r}: the database has no resumable tables (check the URL; "
            "nothing was created)")
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
        _create_missing(conn)
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            insert(meta)
            .values(name="schema_version", value=str(SCHEMA_VERSION))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        found = int(conn.execute(
            select(meta.c.value).where(meta.c.name == "schema_version")).scalar_one())
        if found > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the store's schema is version {found}, newer than this release supports "
                f"({SCHEMA_VERSION}); upgrade resumable"
            )
        while found < SCHEMA_VERSION:
            MIGRATIONS[found](conn)
            found += 1
            conn.execute(
                meta.update().where(meta.c.name == "schema_version").values(value=str(found))
            )
    return found

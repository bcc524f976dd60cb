"""The tables of the incremental-load example: ``orders`` (source), ``orders_copy`` (target).

How it works: both tables live in one SQLAlchemy ``MetaData``; ``orders`` is
``(id integer primary key, updated_at timestamp with time zone, amount integer)`` and
``orders_copy`` has the same columns plus ``loads`` (how many times the row was written).
``updated_at`` is a :class:`UtcDateTime`: it refuses naive datetimes, stores UTC and
always reads back a tz-aware UTC datetime, also on SQLite (whose ``DateTime`` drops the
offset), because a watermark cursor must be tz-aware. :func:`upsert` writes rows into
``orders_copy`` with ``INSERT ... ON CONFLICT (id) DO UPDATE`` and ``loads = loads + 1``,
so a load redone after a crash overwrites its rows and shows that it did.

What it does not do: other dialects than SQLite and PostgreSQL (the upsert is written
with their ``insert`` constructs), or migrations: :func:`create_tables` only creates
missing tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    Table,
    TypeDecorator,
    create_engine,
    insert,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

__all__ = ["DIALECTS", "ORDER_COLUMNS", "UserError", "UtcDateTime", "add_orders",
           "copy_window", "create_tables", "engine_for", "metadata", "missing_tables",
           "orders", "orders_copy", "upsert"]

UTC = timezone.utc
DIALECTS = ("sqlite", "postgresql")
ORDER_COLUMNS = ("id", "updated_at", "amount")


class UserError(Exception):
    """A mistake of the caller (bad URL, missing table): reported in one line."""


class UtcDateTime(TypeDecorator[datetime]):
    """A ``timestamp with time zone`` that reads back tz-aware UTC on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(f"updated_at must be tz-aware, got the naive {value.isoformat()}")
        value = value.astimezone(UTC)
        # SQLite keeps text: a naive UTC value compares and sorts correctly as text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None,
                             dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("updated_at", UtcDateTime(), nullable=False, index=True),
    Column("amount", Integer, nullable=False),
)

orders_copy = Table(
    "orders_copy", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("amount", Integer, nullable=False),
    Column("loads", Integer, nullable=False),
)


def engine_for(url: str) -> Engine:
    """An engine for a SQLite or PostgreSQL URL; ``UserError`` for anything else."""
    try:
        engine = create_engine(url)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise UserError(f"not a usable database URL: {url!r} ({exc})") from None
    if engine.dialect.name not in DIALECTS:
        engine.dispose()
        raise UserError(f"{url!r}: only SQLite and PostgreSQL are supported, "
                        f"not {engine.dialect.name}")
    return engine


def create_tables(engine: Engine, *tables: Table) -> None:
    """Create the given tables (default: both) where they are missing."""
    metadata.create_all(engine, tables=list(tables) or None)


def missing_tables(engine: Engine, *tables: Table) -> list[str]:
    """The names of ``tables`` that do not exist in ``engine``'s database."""
    inspector = inspect(engine)
    return [table.name for table in tables if not inspector.has_table(table.name)]


def add_orders(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert source rows (``id``, ``updated_at``, ``amount``) in one transaction."""
    values = [{name: row[name] for name in ORDER_COLUMNS} for row in rows]
    if values:
        with engine.begin() as conn:
            conn.execute(insert(orders), values)
    return len(values)


def upsert(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` into ``orders_copy``: new ids get ``loads = 1``, known ones ``+ 1``."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite.insert(orders_copy)
    elif dialect == "postgresql":
        stmt = postgresql.insert(orders_copy)
    else:
        raise UserError(f"no upsert for the {dialect} dialect")
    stmt = stmt.on_conflict_do_update(
        index_elements=[orders_copy.c.id],
        set_={"updated_at": stmt.excluded.updated_at, "amount": stmt.excluded.amount,
              "loads": orders_copy.c.loads + 1})
    conn.execute(stmt, [{**{name: row[name] for name in ORDER_COLUMNS}, "loads": 1}
                        for row in rows])


def copy_window(window: Any, source: str, target: str) -> tuple[int, list[int]]:
    """Upsert the source orders inside ``window`` (a ``resumable.Window``) into the target,
    in one transaction; return how many the query selected and the ids the window kept.

    The query is ``window.where(orders.c.updated_at)``; ``window.filter`` then drops the
    rows re-read at the stored cursor that were loaded before.
    """
    source_db, target_db = engine_for(source), engine_for(target)
    try:
        create_tables(target_db, orders_copy)
        query = (select(orders).where(window.where(orders.c.updated_at))
                 .order_by(orders.c.updated_at, orders.c.id))
        with source_db.connect() as conn:
            rows = conn.execute(query).mappings().all()
        kept = window.filter(rows)
        with target_db.begin() as conn:
            upsert(conn, kept)
    finally:
        source_db.dispose()
        target_db.dispose()
    return len(rows), sorted(row["id"] for row in kept)

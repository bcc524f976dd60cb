"""The SQL store's statements, built once per dialect and reused for every call.

How it works: :class:`Statements` holds every statement the backend runs with bound
parameters, so a call only binds values. Writes are single statements:

- ``put``: ``INSERT ... ON CONFLICT DO UPDATE`` (an upsert).
- ``compare_and_set`` with a value expected: ``UPDATE ... WHERE value = :expected``
  (and, for a task row, only while it is live) ``RETURNING``.
- ``compare_and_set`` with nothing expected: ``INSERT ... ON CONFLICT DO NOTHING
  RETURNING`` for an asset; for a task row ``ON CONFLICT DO UPDATE ... WHERE`` the row
  there has expired (an expired row counts as absent, as for ``get``), ``RETURNING``.

Each is atomic on SQLite and PostgreSQL. Success is read from ``RETURNING``, never from
``rowcount`` (psycopg reports -1 for ``INSERT ... ON CONFLICT``).

- ``update``: ``SELECT ... FOR UPDATE`` (the row's lock first), then the upsert or, when
  there was no row to lock, the insert of ``compare_and_set``, in one transaction.

What it does not do: run anything; ``_sql`` and ``_sql_direct`` execute these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    func,
    literal_column,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter

from store_client._scopes import TaskScope
from store_client._sql_schema import NAMESPACE, asset_state, namespace_end, task_state

__all__ = ["Statements", "live", "scan_query", "task_match"]

_t, _a = task_state.c, asset_state.c
_TASK_KEY = ["dag_id", "run_id", "task_id", "map_index", "key"]


def task_match(scope: TaskScope, *, all_map_indices: bool = False) -> ColumnElement[bool]:
    """The rows of one task instance (of every map index of the task, if asked)."""
    clauses = [_t.dag_id == scope.dag_id, _t.run_id == scope.run_id,
               _t.task_id == scope.task_id]
    if not all_map_indices:
        clauses.append(_t.map_index == scope.map_index)
    return and_(*clauses)


def live(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Task rows that have not expired at ``now``."""
    return or_(_t.expires_at.is_(None), _t.expires_at > now)


def _after(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None: none)."""
    while prefix and ord(prefix[-1]) == 0x10FFFF:
        prefix = prefix[:-1]
    if not prefix:
        return None
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # no key holds a surrogate: skip them
        following = 0xE000
    return prefix[:-1] + chr(following)


def key_range(prefix: str, *, postgres: bool) -> ColumnElement[bool]:
    """Task keys that start with ``prefix``, as a range in code-point order.

    SQLite's default order, and PostgreSQL's "C" collation. A prefix within the library's
    ``NAMESPACE`` also repeats the key index's own condition, as literal text, so both
    databases see that the (partial) index applies; any other prefix reads the table.
    Unlike LIKE, the range is exact and case-sensitive.
    """
    key = _t.key.collate("C") if postgres else _t.key
    upper = _after(prefix)
    clauses = [key >= prefix] if prefix else []
    if upper is not None:
        clauses.append(key < upper)
    if prefix.startswith(NAMESPACE):
        clauses += [key >= literal_column(f"'{NAMESPACE}'"),
                    key < literal_column(f"'{namespace_end()}'")]
    return and_(true(), *clauses)


def scan_query(prefix: str, now: datetime, *, pair: bool, postgres: bool) -> Any:
    """Live task rows whose key starts with ``prefix``, oldest first, with (``pair``) the
    live value of each one's scope's key named by the rest of its key: one query, an
    index range then one unique-index lookup per row found."""
    paired = task_state.alias("paired")
    p = paired.c
    query = select(_t.dag_id, _t.run_id, _t.task_id, _t.map_index, _t.key, _t.value,
                   _t.updated_at, p.value if pair else null()).where(
        key_range(prefix, postgres=postgres), live(now))
    if pair:
        query = query.select_from(task_state.outerjoin(paired, and_(
            p.dag_id == _t.dag_id, p.run_id == _t.run_id, p.task_id == _t.task_id,
            p.map_index == _t.map_index, p.key == func.substr(_t.key, len(prefix) + 1),
            or_(p.expires_at.is_(None), p.expires_at > now))))
    return query.order_by(_t.id)


def _bound_task_row() -> ColumnElement[bool]:
    return and_(_t.dag_id == bindparam("d"), _t.run_id == bindparam("r"),
                _t.task_id == bindparam("t"), _t.map_index == bindparam("m"),
                _t.key == bindparam("k"))


@dataclass(frozen=True)
class Statements:
    """Every parametrised statement of the SQL backend, for one dialect."""

    task_upsert: Any
    task_get: Any
    task_insert_new: Any
    task_cas_update: Any
    asset_upsert: Any
    asset_get: Any
    asset_insert_new: Any
    asset_cas_update: Any
    task_lock_read: Any
    asset_lock_read: Any
    task_delete: Any
    asset_delete: Any

    @classmethod
    def for_dialect(cls, name: str) -> Statements:
        """The statements for dialect ``name`` (``postgresql`` or ``sqlite``)."""
        insert = postgresql.insert if name == "postgresql" else sqlite.insert
        now = bindparam("now", type_=_t.expires_at.type)
        task_upsert = insert(task_state)
        task_upsert = task_upsert.on_conflict_do_update(
            index_elements=_TASK_KEY,
            set_={"value": task_upsert.excluded.value,
                  "updated_at": task_upsert.excluded.updated_at,
                  "expires_at": task_upsert.excluded.expires_at})
        fresh = insert(task_state)
        task_insert_new = fresh.on_conflict_do_update(  # only over an expired row
            index_elements=_TASK_KEY,
            set_={"value": fresh.excluded.value, "updated_at": fresh.excluded.updated_at,
                  "expires_at": fresh.excluded.expires_at},
            where=and_(task_state.c.expires_at.is_not(None),
                       task_state.c.expires_at <= fresh.excluded.updated_at),
        ).returning(_t.key)
        asset_upsert = insert(asset_state)
        asset_upsert = asset_upsert.on_conflict_do_update(
            index_elements=["asset", "key"],
            set_={"value": asset_upsert.excluded.value,
                  "updated_at": asset_upsert.excluded.updated_at})
        task_get = select(_t.value).where(_bound_task_row(), live(now))
        asset_get = select(_a.value).where(_a.asset == bindparam("a"), _a.key == bindparam("k"))
        return cls(
            task_upsert=task_upsert,
            task_get=task_get,
            task_insert_new=task_insert_new,
            task_cas_update=task_state.update()
            .where(_bound_task_row(), _t.value == bindparam("expected"), live(now))
            .values(value=bindparam("new"), updated_at=now,
                    expires_at=bindparam("new_expires_at", type_=_t.expires_at.type))
            .returning(_t.key),
            asset_upsert=asset_upsert,
            asset_get=asset_get,
            asset_insert_new=insert(asset_state).on_conflict_do_nothing(
                index_elements=["asset", "key"]).returning(_a.key),
            asset_cas_update=asset_state.update()
            .where(_a.asset == bindparam("a"), _a.key == bindparam("k"),
                   _a.value == bindparam("expected"))
            .values(value=bindparam("new"), updated_at=bindparam("now"))
            .returning(_a.key),
            # PostgreSQL locks the row read; SQLite ignores FOR UPDATE (its caller holds
            # the database's write lock: BEGIN IMMEDIATE).
            task_lock_read=task_get.with_for_update(),
            asset_lock_read=asset_get.with_for_update(),
            task_delete=task_state.delete().where(_bound_task_row()),
            asset_delete=asset_state.delete().where(_a.asset == bindparam("a"),
                                                    _a.key == bindparam("k")),
        )

"""A window's bounds as a SQLAlchemy clause or as HTTP query parameters.

How it works: both are pure functions of a window's edges: ``start`` and ``end`` (either
may be None: no bound on that side), whether each edge is open or closed, and which way
the cursor moves (``max``: ``start <= column < end``; ``min``: ``end < column <=
start``). :func:`where_clause` builds the clause from the column's own operators, so it
binds the values with the column's type; :func:`query_params` formats the values the way
an API wants them.

What it does not do: the boundary dedup. A closed start reads the rows at the stored
cursor again; pass what the query returns through ``window.filter`` to drop those that
were loaded. A custom ``last_value_func`` has no SQL ordering: refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, true
from sqlalchemy.sql.elements import ColumnElement

__all__ = ["Edges", "query_params", "where_clause"]

Edges = tuple[Any, Any, bool, bool, bool]  # start, end, start closed, end closed, forward
Format = str | Callable[[Any], Any]


def where_clause(column: Any, edges: Edges) -> ColumnElement[bool]:
    """``column`` inside the window: ``start <= column < end`` for a ``max`` cursor."""
    start, end, start_closed, end_closed, forward = edges
    parts: list[ColumnElement[bool]] = []
    if start is not None:
        if forward:
            parts.append(column >= start if start_closed else column > start)
        else:
            parts.append(column <= start if start_closed else column < start)
    if end is not None:
        if forward:
            parts.append(column <= end if end_closed else column < end)
        else:
            parts.append(column >= end if end_closed else column > end)
    return and_(true(), *parts)


def _epoch(value: datetime | date) -> float:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return value.timestamp()


def format_value(value: Any, fmt: Format) -> Any:
    """``value`` as ``fmt`` says: ``"iso"``, ``"timestamp"`` (whole seconds, floored),
    ``"timestamp_ms"``, a ``strftime`` pattern (any text with a ``%``), or a callable.
    Numbers and strings are given as they are to the named formats."""
    if callable(fmt):
        return fmt(value)
    if not isinstance(fmt, str):
        raise TypeError(f"format must be 'iso', 'timestamp', 'timestamp_ms', a strftime "
                        f"pattern or a callable, got {fmt!r:.60}")
    if isinstance(value, (datetime, date)):
        if fmt == "iso":
            return value.isoformat()
        if fmt == "timestamp":
            return math.floor(_epoch(value))
        if fmt == "timestamp_ms":
            return math.floor(_epoch(value) * 1000)
        if "%" in fmt:
            return value.strftime(fmt)
    elif fmt in ("iso", "timestamp", "timestamp_ms") or "%" in fmt:
        return str(value) if isinstance(value, Decimal) else value
    raise ValueError(f"format {fmt!r:.60} is not 'iso', 'timestamp', 'timestamp_ms', a "
                     "strftime pattern (with %) or a callable")


def query_params(edges: Edges, start_param: str | None, end_param: str | None,
                 fmt: Format) -> dict[str, Any]:
    """The window's edges as query parameters; a missing edge or a None name is left out."""
    start, end = edges[0], edges[1]
    params: dict[str, Any] = {}
    if start_param is not None and start is not None:
        params[start_param] = format_value(start, fmt)
    if end_param is not None and end is not None:
        params[end_param] = format_value(end, fmt)
    return params

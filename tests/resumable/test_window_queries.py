"""``window.where(column)`` against real SQLite and PostgreSQL tables, and
``window.query_params`` for HTTP APIs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
    select,
)

from resumable import Window, open_window
from store_client import StoreClient, connect

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def table(persistent_url: str) -> Iterator[tuple[Engine, Table, StoreClient]]:
    """A source table of events at minutes 0..9, beside a store, in the same database."""
    engine = create_engine(persistent_url)
    table = Table(f"events_{uuid.uuid4().hex[:8]}", MetaData(),
                  Column("id", Integer, primary_key=True),
                  Column("at", DateTime(timezone=True), nullable=False))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "at": at(i)} for i in range(10)])
    client = connect(persistent_url)
    try:
        yield engine, table, client
    finally:
        client.close()
        table.drop(engine)
        engine.dispose()


def selected(engine: Engine, table: Table, window: Window) -> list[int]:
    query = select(table.c.id, table.c.at).where(window.where(table.c.at)).order_by(table.c.id)
    with engine.connect() as conn:
        rows = [{"id": r.id, "at": _aware(r.at)} for r in conn.execute(query)]
    return [row["id"] for row in window.filter(rows)]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@pytest.mark.parametrize(("options", "expected"), [
    ({"initial": at(3)}, list(range(3, 10))),
    ({"initial": at(3), "range_start": "open"}, list(range(4, 10))),
    ({"initial": at(3), "end": at(6)}, [3, 4, 5]),
    ({"initial": at(3), "end": at(6), "range_end": "closed"}, [3, 4, 5, 6]),
    ({"initial": at(6), "end": at(3), "last_value_func": min}, [4, 5, 6]),
    ({"initial": at(6), "end": at(3), "last_value_func": min, "range_start": "open",
      "range_end": "closed"}, [3, 4, 5]),
    ({}, list(range(10))),  # no initial, nothing stored: no bound at all
])
def test_the_clause_selects_the_window(table: tuple[Engine, Table, StoreClient],
                                       options: dict[str, Any], expected: list[int]) -> None:
    engine, events, _ = table
    store = None if "end" in options else connect("memory://").asset_store("e")
    window = open_window(store, cursor="at", primary_key="id", **options)
    assert selected(engine, events, window) == expected


def test_the_clause_and_filter_together_load_each_row_once(
        table: tuple[Engine, Table, StoreClient]) -> None:
    engine, events, client = table
    assets = client.asset_store(events.name)
    with open_window(assets, cursor="at", primary_key="id", initial=T0) as w:
        assert selected(engine, events, w) == list(range(10))
    with engine.begin() as conn:  # a late row at the stored cursor, and a newer one
        conn.execute(insert(events), [{"id": 10, "at": at(9)}, {"id": 11, "at": at(12)}])
    with open_window(assets, cursor="at", primary_key="id", initial=T0) as w:
        assert str(w.where(events.c.at)).count(">=") == 1  # the closed start re-reads 9
        assert selected(engine, events, w) == [10, 11]


def test_a_custom_last_value_func_has_no_sql_form() -> None:
    window = open_window(None, cursor="at", initial=1, end=5,
                         last_value_func=lambda values: max(values))
    with pytest.raises(TypeError, match="max or min"):
        window.where(Column("at", Integer))
    with pytest.raises(TypeError, match="max or min"):
        window.query_params()


@pytest.mark.parametrize(("initial", "end", "fmt", "expected"), [
    (at(0), at(90), "iso", {"since": "2026-01-01T00:00:00+00:00",
                            "until": "2026-01-01T01:30:00+00:00"}),
    (at(0), at(90), "timestamp", {"since": 1767225600, "until": 1767231000}),
    (at(0), at(90), "timestamp_ms", {"since": 1767225600000, "until": 1767231000000}),
    (at(0), at(90), "%Y-%m-%dT%H:%M:%SZ", {"since": "2026-01-01T00:00:00Z",
                                           "until": "2026-01-01T01:30:00Z"}),
    (date(2026, 1, 1), date(2026, 1, 3), "iso", {"since": "2026-01-01",
                                                 "until": "2026-01-03"}),
    (date(2026, 1, 1), date(2026, 1, 3), "timestamp", {"since": 1767225600,
                                                       "until": 1767398400}),
    (10, 20, "iso", {"since": 10, "until": 20}),
    (Decimal("1.5"), Decimal("2.5"), "iso", {"since": "1.5", "until": "2.5"}),
    (at(0), at(90), lambda v: v.strftime("%d/%m/%Y"), {"since": "01/01/2026",
                                                       "until": "01/01/2026"}),
])
def test_query_params_format_the_edges(initial: Any, end: Any, fmt: Any,
                                       expected: dict[str, Any]) -> None:
    window = open_window(None, cursor="at", initial=initial, end=end)
    assert window.query_params("since", "until", format=fmt) == expected


def test_query_params_leave_out_a_missing_edge_or_name() -> None:
    assets = connect("memory://").asset_store("e")
    window = open_window(assets, cursor="at", initial=at(0))
    assert window.query_params("since", "until") == {"since": "2026-01-01T00:00:00+00:00"}
    assert window.query_params(None, "until") == {}
    assert open_window(assets, cursor="at").query_params() == {}


@pytest.mark.parametrize("fmt", ["unix", 3])
def test_an_unknown_format_is_refused(fmt: Any) -> None:
    window = open_window(None, cursor="at", initial=at(0), end=at(1))
    with pytest.raises((ValueError, TypeError), match="format"):
        window.query_params(format=fmt)

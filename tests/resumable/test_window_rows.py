"""``@watermark`` over rows of every shape and a NUMERIC (``Decimal``) cursor, on memory,
SQLite and PostgreSQL stores: two runs, the second loads only the new rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from resumable import CursorTypeError, MissingCursorError, Window, open_window, watermark
from resumable._window import State
from store_client import AssetStore, StoreClient

D = Decimal


@pytest.fixture
def assets(client: StoreClient) -> AssetStore:
    return client.asset_store("orders")


# -- a real sqlite3 table read as sqlite3.Row -----------------------------------------

sqlite3.register_converter("RESUMABLE_TEST_DECIMAL", lambda raw: Decimal(raw.decode()))


@pytest.fixture
def source(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """An ``orders`` table whose NUMERIC ``version`` column reads back as ``Decimal``."""
    conn = sqlite3.connect(tmp_path / "source.db", detect_types=sqlite3.PARSE_DECLTYPES)
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, "
                 "version RESUMABLE_TEST_DECIMAL, customer TEXT)")
    yield conn
    conn.close()


def insert(conn: sqlite3.Connection, *rows: tuple[int, str]) -> None:
    conn.executemany("INSERT INTO orders VALUES (?, ?, ?)",
                     [(i, version, f"c{i}") for i, version in rows])
    conn.commit()


@pytest.mark.parametrize("primary_key", ["id", None], ids=["by-id", "whole-row"])
def test_sqlite3_rows_with_a_numeric_cursor_load_only_new_rows_on_the_second_run(
        assets: AssetStore, source: sqlite3.Connection, primary_key: str | None) -> None:
    @watermark("orders", cursor="version", primary_key=primary_key, initial=D("0"))
    def load(window: Window) -> list[int]:
        rows = source.execute("SELECT * FROM orders WHERE version >= ? ORDER BY id",
                              (str(window.start),)).fetchall()
        assert all(isinstance(r, sqlite3.Row) for r in rows)
        return [r["id"] for r in window.filter(rows)]

    insert(source, (1, "1.10"), (2, "2.50"), (3, "2.50"))
    assert load(asset_store=assets) == [1, 2, 3]
    stored: Any = assets.get("watermark")  # SQLite's NUMERIC affinity keeps 2.50 as 2.5
    assert stored["type"] == "decimal" and stored["cursor"] == "2.5"
    assert State.decode(stored).cursor == D("2.5")

    insert(source, (4, "2.50"), (5, "3.125"))  # 4 ties the boundary but is new
    assert load(asset_store=assets) == [4, 5]
    assert load(asset_store=assets) == []  # 5 is the known boundary row
    assert State.decode(assets.get("watermark")).cursor == D("3.125")


def test_returned_sqlite3_rows_are_observed(assets: AssetStore,
                                            source: sqlite3.Connection) -> None:
    @watermark("orders", cursor="version", primary_key="id")
    def load(window: Window) -> list[sqlite3.Row]:
        return source.execute("SELECT * FROM orders").fetchall()

    insert(source, (1, "7.000001"))
    load(asset_store=assets)
    assert State.decode(assets.get("watermark")).cursor == D("7.000001")


@pytest.mark.parametrize(("policy", "kept"), [("include", [1, 2]), ("exclude", [2])])
def test_a_null_sqlite3_cursor_follows_the_missing_cursor_policy(
        assets: AssetStore, source: sqlite3.Connection, policy: Any, kept: list[int]) -> None:
    source.execute("INSERT INTO orders VALUES (1, NULL, 'c1')")
    insert(source, (2, "1.5"))
    rows = source.execute("SELECT * FROM orders ORDER BY id").fetchall()
    with open_window(assets, cursor="version", primary_key="id",
                     on_missing_cursor=policy) as w:
        assert [r["id"] for r in w.filter(rows)] == kept
    with pytest.raises(MissingCursorError, match="version"):
        open_window(assets, cursor="version", primary_key="id").filter(rows)


# -- SQLAlchemy: Row and RowMapping ---------------------------------------------------

metadata = sa.MetaData()
orders_table = sa.Table(
    "orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Numeric(12, 3), nullable=False),
    sa.Column("customer", sa.String(20)),
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'sa-source.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def sa_insert(engine: sa.Engine, *rows: tuple[int, str]) -> None:
    with engine.begin() as conn:
        conn.execute(orders_table.insert(), [{"id": i, "version": D(v), "customer": f"c{i}"}
                                             for i, v in rows])


@pytest.mark.parametrize("mappings", [False, True], ids=["Row", "RowMapping"])
@pytest.mark.parametrize("primary_key", ["id", None], ids=["by-id", "whole-row"])
def test_sqlalchemy_rows_with_a_numeric_cursor_load_only_new_rows_on_the_second_run(
        assets: AssetStore, engine: sa.Engine, mappings: bool,
        primary_key: str | None) -> None:
    @watermark("orders", cursor="version", primary_key=primary_key, lag=D("0.5"))
    def load(window: Window) -> list[int]:
        query = sa.select(orders_table).order_by(orders_table.c.id)
        if window.start is not None:
            query = query.where(orders_table.c.version >= window.start)
        with engine.connect() as conn:
            result = conn.execute(query)
            rows: list[Any] = list(result.mappings().all() if mappings else result.all())
        assert all(isinstance(r["version"] if mappings else r.version, Decimal)
                   for r in rows)
        return [(r["id"] if mappings else r.id) for r in window.filter(rows)]

    sa_insert(engine, (1, "1.000"), (2, "10.250"), (3, "10.250"))
    assert load(asset_store=assets) == [1, 2, 3]
    sa_insert(engine, (4, "10.250"), (5, "9.900"), (6, "11"))
    # start = 10.250 - 0.5: 5 is re-read by the lag (not deduped), 2 and 3 are the boundary
    assert load(asset_store=assets) == [4, 5, 6]
    assert State.decode(assets.get("watermark")).cursor == D("11.000")


def test_returned_sqlalchemy_rows_are_observed(assets: AssetStore, engine: sa.Engine) -> None:
    @watermark("orders", cursor="version")
    def load(window: Window) -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(orders_table)).all())

    sa_insert(engine, (1, "4.5"))
    load(asset_store=assets)
    assert State.decode(assets.get("watermark")).cursor == D("4.500")


# -- dataclasses and pydantic models, with a nested cursor path -----------------------

@dataclass
class Meta:
    version: Decimal


@dataclass
class OrderData:
    id: int
    meta: Meta


class MetaModel(BaseModel):
    version: Decimal


class OrderModel(BaseModel):
    id: int
    meta: MetaModel


def as_dataclass(i: int, version: str) -> object:
    return OrderData(i, Meta(D(version)))


def as_model(i: int, version: str) -> object:
    return OrderModel(id=i, meta=MetaModel(version=D(version)))


def as_mixed(i: int, version: str) -> object:
    return {"id": i, "meta": MetaModel(version=D(version))}


@pytest.mark.parametrize("make", [as_dataclass, as_model, as_mixed],
                         ids=["dataclass", "pydantic", "dict-of-pydantic"])
@pytest.mark.parametrize("primary_key", ["id", None], ids=["by-id", "whole-row"])
def test_objects_with_a_nested_decimal_cursor_load_only_new_rows_on_the_second_run(
        assets: AssetStore, make: Callable[[int, str], object],
        primary_key: str | None) -> None:
    table: list[object] = []

    @watermark("orders", cursor="meta.version", primary_key=primary_key, initial=0)
    def load(window: Window) -> list[object]:
        return window.filter(table)

    table += [make(1, "1"), make(2, "2.00"), make(3, "2.00")]
    assert load(asset_store=assets) == table
    table += [make(4, "2"), make(5, "2.01")]
    assert load(asset_store=assets) == table[3:]
    assert load(asset_store=assets) == []
    assert State.decode(assets.get("watermark")).cursor == D("2.01")


def test_dataclass_rows_returned_are_observed_by_their_nested_cursor(
        assets: AssetStore) -> None:
    @watermark("orders", cursor="meta.version", primary_key="id")
    def load(window: Window) -> list[object]:
        return [as_dataclass(1, "3"), as_dataclass(2, "5.5")]

    load(asset_store=assets)
    assert State.decode(assets.get("watermark")).cursor == D("5.5")


def test_a_missing_nested_cursor_follows_the_missing_cursor_policy(
        assets: AssetStore) -> None:
    rows = [{"id": 1, "meta": None}, {"id": 2}, {"id": 3, "meta": {"version": D(1)}}]
    with open_window(assets, cursor="meta.version", primary_key="id",
                     on_missing_cursor="exclude") as w:
        assert w.filter(rows) == rows[2:]
    w = open_window(assets, cursor="meta.version", primary_key="id",
                    on_missing_cursor="include")
    assert w.filter(rows) == rows[:2]  # 3 is the boundary row loaded before
    with pytest.raises(MissingCursorError, match=r"meta\.version"):
        open_window(assets, cursor="meta.version").filter(rows)


def test_a_dotted_primary_key_and_a_dotted_key_name(assets: AssetStore) -> None:
    with open_window(assets, cursor="v", primary_key=("src.db", "src.id")) as w:
        w.filter([{"v": 1, "src.db": "a", "src": {"id": 1}},
                  {"v": 1, "src.db": "a", "src": {"id": 2}}])
    w = open_window(assets, cursor="v", primary_key=("src.db", "src.id"))
    new = {"v": 1, "src.db": "b", "src": {"id": 1}}
    assert w.filter([{"v": 1, "src.db": "a", "src": {"id": 2}}, new]) == [new]
    with pytest.raises(MissingCursorError, match="primary key"):
        w.filter([{"v": 1, "src.db": "a", "src": {}}])


# -- Decimal cursors: bounds, lag and mixing ------------------------------------------

def test_a_decimal_backfill_and_an_int_initial(assets: AssetStore) -> None:
    w = open_window(None, cursor="v", initial=D("1.5"), end=3)
    assert w.filter([{"v": D("1.4")}, {"v": D("1.5")}, {"v": 2}, {"v": D("3.0")}]) == \
        [{"v": D("1.5")}, {"v": 2}]
    with open_window(assets, cursor="v", initial=0) as w:
        w.filter([{"v": D("0.1")}, {"v": 5}])
    assert open_window(assets, cursor="v", initial=0, lag=D("0.25")).start == D("4.75")


@pytest.mark.parametrize(("rows", "match"), [
    ([{"v": D("1.5")}, {"v": 2.5}], "float .* but the cursor is a Decimal"),
    ([{"v": 2.5}, {"v": D("1.5")}], "Decimal .* but the cursor is a float"),
    ([{"v": D("NaN")}], "finite"),
    ([{"v": D("-Infinity")}], "finite"),
])
def test_decimal_and_float_cursors_do_not_mix(assets: AssetStore, rows: list[Any],
                                              match: str) -> None:
    with pytest.raises(CursorTypeError, match=match):
        open_window(assets, cursor="v").filter(rows)


def test_a_float_row_after_a_stored_decimal_cursor_is_refused(assets: AssetStore) -> None:
    with open_window(assets, cursor="v") as w:
        w.filter([{"v": D("1.5")}])
    with pytest.raises(CursorTypeError, match="float"):
        open_window(assets, cursor="v").filter([{"v": 2.5}])
    with pytest.raises(CursorTypeError, match="lag"):
        open_window(assets, cursor="v", lag=0.5)
    assert open_window(assets, cursor="v", lag=1).start == D("0.5")


def test_stored_cursors_keep_their_exponent_and_compare_numerically(
        assets: AssetStore) -> None:
    with open_window(assets, cursor="v", primary_key="id") as w:
        w.filter([{"id": 1, "v": D("1E+2")}])
    stored: Any = assets.get("watermark")
    assert stored["cursor"] == "1E+2"
    w = open_window(assets, cursor="v", primary_key="id")
    assert w.filter([{"id": 1, "v": D("100.00")}, {"id": 2, "v": D("100")},
                     {"id": 3, "v": D("99.99")}]) == [{"id": 2, "v": D("100")}]


def test_a_decimal_end_after_a_datetime_initial_is_refused() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(CursorTypeError, match="Decimal"):
        open_window(None, cursor="v", initial=start, end=D(5))

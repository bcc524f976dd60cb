"""resumable._rows: one field (or a dotted path) and the whole-row JSON, for every row shape."""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from resumable._rows import MISSING, as_dict, canonical_json, is_row, read_field, row_json

T = datetime(2026, 1, 1, tzinfo=timezone.utc)
COLUMNS: dict[str, Any] = {"id": 7, "name": "ü", "amount": Decimal("12.50"), "note": None}

OrderTuple = namedtuple("OrderTuple", "id name amount note")


@dataclass
class OrderData:
    id: int
    name: str
    amount: Decimal
    note: str | None


class OrderModel(BaseModel):
    id: int
    name: str
    amount: Decimal
    note: str | None


class Plain:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)


@pytest.fixture(scope="module")
def sqlite_rows() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE o (id INTEGER, name TEXT, amount TEXT, note TEXT)")
    conn.execute("INSERT INTO o VALUES (?, ?, ?, ?)", (7, "ü", "12.50", None))
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("sqlite://")
    yield engine
    engine.dispose()


def sqlalchemy_row(engine: sa.Engine, mappings: bool) -> Any:
    query = sa.select(sa.literal(7).label("id"), sa.literal("ü").label("name"),
                      sa.literal("12.50").label("amount"), sa.null().label("note"))
    with engine.connect() as conn:
        result = conn.execute(query)
        row = result.mappings().one() if mappings else result.one()
    return row


def shapes(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The same columns in every row shape (amount as a str where the source is SQL)."""
    conn: sqlite3.Connection = request.getfixturevalue("sqlite_rows")
    engine: sa.Engine = request.getfixturevalue("engine")
    return {
        "dict": dict(COLUMNS),
        "mappingproxy": MappingProxyType(dict(COLUMNS)),
        "sqlite3.Row": conn.execute("SELECT * FROM o").fetchone(),
        "sqlalchemy Row": sqlalchemy_row(engine, mappings=False),
        "sqlalchemy RowMapping": sqlalchemy_row(engine, mappings=True),
        "dataclass": OrderData(**COLUMNS),
        "pydantic": OrderModel(**COLUMNS),
        "namedtuple": OrderTuple(**COLUMNS),
        "plain object": Plain(**COLUMNS),
        "SimpleNamespace": SimpleNamespace(**COLUMNS),
    }


SHAPES = ["dict", "mappingproxy", "sqlite3.Row", "sqlalchemy Row", "sqlalchemy RowMapping",
          "dataclass", "pydantic", "namedtuple", "plain object", "SimpleNamespace"]
SQL = {"sqlite3.Row", "sqlalchemy Row", "sqlalchemy RowMapping"}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_reads_its_fields_and_a_missing_or_null_field_is_missing(
        request: pytest.FixtureRequest, shape: str) -> None:
    row = shapes(request)[shape]
    assert read_field(row, "id") == 7
    assert read_field(row, "name") == "ü"
    assert read_field(row, "amount") == ("12.50" if shape in SQL else Decimal("12.50"))
    assert read_field(row, "note") is MISSING  # None reads as missing
    assert read_field(row, "nope") is MISSING
    assert read_field(row, "id.deeper") is MISSING


@pytest.mark.parametrize("shape", SHAPES)
def test_the_whole_row_json_is_the_same_whatever_the_shape(request: pytest.FixtureRequest,
                                                           shape: str) -> None:
    same = {**COLUMNS, "amount": "12.50"}  # Decimal("12.50") is written as "12.50" too
    row = shapes(request)[shape]
    assert row_json(row) == row_json(same) == canonical_json(COLUMNS)
    assert row_json(row) == '{"amount":"12.50","id":7,"name":"\\u00fc","note":null}'


@pytest.mark.parametrize("shape", [s for s in SHAPES if s not in ("plain object",
                                                                    "SimpleNamespace")])
def test_row_shapes_are_rows_and_become_dicts(request: pytest.FixtureRequest,
                                              shape: str) -> None:
    row = shapes(request)[shape]
    assert is_row(row)
    assert as_dict(row) is not None and set(as_dict(row) or ()) == set(COLUMNS)


@pytest.mark.parametrize("value", [Plain(id=1), SimpleNamespace(id=1), 5, "row", (1, 2),
                                   None, OrderData])
def test_plain_objects_scalars_tuples_and_classes_are_not_rows(value: object) -> None:
    assert not is_row(value) and as_dict(value) is None


def test_plain_objects_tuples_and_scalars_hash_by_attributes_or_repr() -> None:
    assert row_json(Plain(id=1, at=T)) == row_json({"id": 1, "at": T})
    assert row_json((1, "a")) == '"(1, \'a\')"'  # a plain tuple by its repr, as before


@dataclass
class Payload:
    updated_at: Any
    tags: tuple[str, ...] = ()


class PayloadModel(BaseModel):
    updated_at: Any


class Envelope(BaseModel):
    data: PayloadModel


Inner = namedtuple("Inner", "updated_at")


@pytest.mark.parametrize(("row", "path", "expected"), [
    ({"data": {"updated_at": T}}, "data.updated_at", T),
    ({"data": Payload(T)}, "data.updated_at", T),                       # dict -> dataclass
    (Payload({"updated_at": T}), "updated_at.updated_at", T),           # dataclass -> dict
    (Envelope(data=PayloadModel(updated_at=T)), "data.updated_at", T),  # pydantic nested
    (SimpleNamespace(data=Inner(T)), "data.updated_at", T),             # object -> tuple
    ({"a": {"b": {"c": 3}}}, "a.b.c", 3),
    # a name with a dot in it: the longest prefix naming a field wins at each level
    ({"data.updated_at": 1, "data": {"updated_at": 2}}, "data.updated_at", 1),
    ({"a.b": {"c": 1}}, "a.b.c", 1),
    ({"a": {"b.c": 1}}, "a.b.c", 1),
    ({"a.b": {"x": 1}, "a": {"b": {"c": 2}}}, "a.b.c", MISSING),  # no backtracking
    # missing: an absent level, a None level, a scalar level, a trailing dot
    ({"data": {}}, "data.updated_at", MISSING),
    ({"data": None}, "data.updated_at", MISSING),
    ({"data": {"updated_at": None}}, "data.updated_at", MISSING),
    ({"data": "text"}, "data.updated_at", MISSING),
    ({"data": {"updated_at": T}}, "data.", MISSING),
    ({"data": {"updated_at": T}}, ".data", MISSING),
    ({"items": [{"id": 1}]}, "items.0.id", MISSING),  # lists are not indexed
])
def test_dotted_paths_go_down_a_level_in_any_shape(row: object, path: str,
                                                   expected: object) -> None:
    found = read_field(row, path)
    assert found is expected if expected is MISSING else found == expected


def test_an_attribute_with_a_dot_in_its_name_is_reachable() -> None:
    row = SimpleNamespace(data=SimpleNamespace(updated_at=2))
    setattr(row, "data.updated_at", 1)  # not an identifier: no attribute syntax
    assert read_field(row, "data.updated_at") == 1


def test_sqlite_rows_read_dotted_column_names(sqlite_rows: sqlite3.Connection) -> None:
    row = sqlite_rows.execute('SELECT 1 AS "data.updated_at", 2 AS data').fetchone()
    assert read_field(row, "data.updated_at") == 1
    assert read_field(row, "data") == 2


def test_a_namedtuple_reads_only_its_fields_not_its_methods() -> None:
    assert read_field(OrderTuple(1, "a", Decimal(1), None), "count") is MISSING


@dataclass
class OrderLike:
    id: int
    data: Any


@dataclass
class At:
    at: str
    tags: tuple[str, ...]


class AtModel(BaseModel):
    at: str
    tags: list[str]


class OrderLikeModel(BaseModel):
    id: int
    data: AtModel


@pytest.mark.parametrize(("make", "nested"), [
    (lambda: {"id": 1, "data": {"at": "x", "tags": ["a"]}}, "dict"),
    (lambda: OrderLike(1, At("x", ("a",))), "dataclass"),
    (lambda: OrderLikeModel(id=1, data=AtModel(at="x", tags=["a"])), "pydantic"),
    (lambda: {"id": 1, "data": MappingProxyType({"at": "x", "tags": ("a",)})}, "mapping"),
    (lambda: Plain(id=1, data=At("x", ("a",))), "plain object holding a dataclass"),
])
def test_nested_rows_hash_alike_whatever_their_shape(make: Callable[[], object],
                                                     nested: str) -> None:
    assert row_json(make()) == '{"data":{"at":"x","tags":["a"]},"id":1}', nested

"""Window and WatermarkSpec: the window's bounds, filter, dedup and how the cursor moves."""

from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from resumable import (
    CursorTypeError,
    MissingCursorError,
    WatermarkConflictError,
    Window,
    open_window,
    watermark,
)
from resumable._boundary import Boundary
from resumable._cursor import decode_cursor, encode_cursor, minus_lag
from resumable._window import State, WatermarkSpec, merged
from store_client import AssetStore, StoreClient

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DT_MIN = datetime.min.replace(tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rows(*spec: tuple[int, int]) -> list[dict[str, Any]]:
    """Rows from (id, minute) pairs."""
    return [{"id": i, "updated_at": at(m)} for i, m in spec]


@pytest.fixture
def assets(client: StoreClient) -> AssetStore:
    return client.asset_store("orders")


def window(store: AssetStore | None, **kwargs: Any) -> Window:
    kwargs.setdefault("cursor", "updated_at")
    kwargs.setdefault("primary_key", "id")
    return open_window(store, **kwargs)


@pytest.mark.parametrize("value", [
    0, -7, 2**70, 0.1, 1e-300, -2.5, "", "2026-01-01", "ü/€",
    datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=5, minutes=45))),
    datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("Europe/Paris")),
    date(2026, 2, 28),
    Decimal("12.50"), Decimal("-0"), Decimal("1E+2"), Decimal("-1.5E-40"),
    Decimal("123456789012345678901234567890.123456789012345678901234567890"),
])
def test_typed_cursors_round_trip_exactly_through_the_store(assets: AssetStore,
                                                            value: Any) -> None:
    assets.set("k", encode_cursor(value))
    back = decode_cursor(assets.get("k"))  # type: ignore[arg-type]
    assert back == value and type(back) is type(value)
    if isinstance(value, Decimal):
        assert str(back) == str(value)  # digits and exponent too
    if isinstance(value, datetime):
        assert back.utcoffset() == value.utcoffset()


def test_first_run_starts_at_initial_and_stores_the_max_cursor_seen(assets: AssetStore) -> None:
    w = window(assets, initial=at(0))
    assert (w.start, w.end, w.stored) == (at(0), None, None)
    kept = w.filter(rows((1, -1), (2, 0), (3, 5), (4, 5)))
    assert [r["id"] for r in kept] == [2, 3, 4]  # closed start: minute 0 is in
    assert w.commit() is True
    stored = State.decode(assets.get("watermark"))
    assert stored.cursor == at(5) and len(stored.boundary.ids) == 2


def test_the_next_run_drops_rows_at_the_boundary_loaded_before(assets: AssetStore) -> None:
    with window(assets, initial=at(0)) as w:
        w.filter(rows((1, 1), (2, 5), (3, 5)))
    w2 = window(assets, initial=at(0))
    assert w2.start == at(5)
    kept = w2.filter(rows((2, 5), (3, 5), (4, 5), (5, 6)))
    assert [r["id"] for r in kept] == [4, 5]  # 4 shares the boundary but is new
    w2.commit()
    w3 = window(assets, initial=at(0))
    assert w3.filter(rows((5, 6))) == [] and w3.commit() is False


def test_ties_at_the_boundary_accumulate_when_the_cursor_does_not_move(
        assets: AssetStore) -> None:
    with window(assets) as w:
        w.filter(rows((1, 5)))
    with window(assets) as w:
        assert [r["id"] for r in w.filter(rows((1, 5), (2, 5)))] == [2]
    with window(assets) as w:
        assert w.filter(rows((1, 5), (2, 5))) == []
    assert len(State.decode(assets.get("watermark")).boundary.ids) == 2


def test_end_bounds_the_window_open_and_a_backfill_never_touches_the_store(
        assets: AssetStore) -> None:
    assets.set("watermark", {"type": "datetime", "cursor": at(50).isoformat(),
                             "boundary": []})
    w = window(assets, initial=at(0), end=at(10))
    assert (w.start, w.end, w.stored) == (at(0), at(10), None)
    kept = w.filter(rows((1, 0), (2, 9), (3, 10), (4, 11)))
    assert [r["id"] for r in kept] == [1, 2]  # [initial, end)
    assert w.commit() is False
    assert State.decode(assets.get("watermark")).cursor == at(50)
    assert window(None, initial=0, end=10, cursor="n").start == 0


def test_lag_moves_the_start_back_but_the_stored_cursor_stays_the_max(
        assets: AssetStore) -> None:
    with window(assets, lag=timedelta(minutes=3)) as w:
        w.filter(rows((1, 10)))
    w = window(assets, lag=timedelta(minutes=3))
    assert w.start == at(7)
    kept = w.filter(rows((1, 10), (2, 8), (3, 6)))
    assert [r["id"] for r in kept] == [2]  # 1 is a known boundary row; 3 is before start
    w.commit()
    assert State.decode(assets.get("watermark")).cursor == at(10)


def test_numeric_and_string_cursors_and_callable_cursors(assets: AssetStore) -> None:
    with open_window(assets, cursor=lambda r: r[0], primary_key=lambda r: r[1],
                     key="by-seq") as w:
        assert w.filter([(3, "a"), (1, "b"), (3, "c")]) == [(3, "a"), (1, "b"), (3, "c")]
    w = open_window(assets, cursor=lambda r: r[0], primary_key=lambda r: r[1], key="by-seq")
    assert w.start == 3 and w.filter([(3, "a"), (3, "d"), (2.5, "e")]) == [(3, "d")]
    with open_window(assets, cursor="v", key="s", initial="2026-01") as w:
        assert w.filter([{"v": "2025-12"}, {"v": "2026-02"}]) == [{"v": "2026-02"}]
    assert open_window(assets, cursor="v", key="s").start == "2026-02"


def test_rows_may_be_objects_named_tuples_and_rows_without_a_primary_key(
        assets: AssetStore) -> None:
    Order = namedtuple("Order", "id updated_at")
    with open_window(assets, cursor="updated_at") as w:  # no primary_key: whole-row hash
        w.filter([Order(1, at(1)), Order(2, at(1))])
    w = open_window(assets, cursor="updated_at")
    assert w.filter([Order(1, at(1)), Order(3, at(1))]) == [Order(3, at(1))]


def test_primary_key_off_keeps_every_boundary_row(assets: AssetStore) -> None:
    with window(assets, primary_key=()) as w:
        w.filter(rows((1, 1)))
    assert window(assets, primary_key=()).filter(rows((1, 1))) == rows((1, 1))


@pytest.mark.parametrize(("policy", "kept"), [("include", [1, 2]), ("exclude", [2])])
def test_missing_cursors_are_included_or_excluded_on_request(
        assets: AssetStore, policy: Any, kept: list[int]) -> None:
    w = window(assets, on_missing_cursor=policy)
    out = w.filter([{"id": 1, "updated_at": None}, *rows((2, 1))])
    assert [r["id"] for r in out] == kept and w.max_cursor == at(1)


def test_a_missing_cursor_raises_by_default_naming_the_field(assets: AssetStore) -> None:
    with pytest.raises(MissingCursorError, match="updated_at"):
        window(assets).filter([{"id": 1}])


def test_observe_records_without_filtering_and_commits_the_max(assets: AssetStore) -> None:
    with window(assets, initial=at(10)) as w:
        assert w.observe(rows((1, 2), (2, 30), (3, 20))) is None
    assert State.decode(assets.get("watermark")).cursor == at(30)


@pytest.mark.parametrize(("row_value", "match"), [
    ("2026-01-01", "str"),
    (datetime(2026, 1, 1), "naive"),
    (date(2026, 1, 1), "date"),
    (True, "bool"),
    (float("nan"), "finite"),
])
def test_a_cursor_of_the_wrong_type_is_refused_naming_it(assets: AssetStore, row_value: Any,
                                                          match: str) -> None:
    with pytest.raises(CursorTypeError, match=match):
        window(assets, initial=at(0)).filter([{"id": 1, "updated_at": row_value}])


def test_a_stored_cursor_of_another_type_than_initial_is_refused(assets: AssetStore) -> None:
    assets.set("watermark", {"type": "int", "cursor": 5, "boundary": []})
    with pytest.raises(CursorTypeError, match="stored watermark"):
        window(assets, initial=at(0))
    assets.set("watermark", {"something": "else"})
    with pytest.raises(CursorTypeError, match="not one this library wrote"):
        window(assets)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"cursor": ""}, TypeError, "cursor must be"),
    ({"cursor": 5}, TypeError, "cursor must be"),
    ({"on_missing_cursor": "skip"}, ValueError, "on_missing_cursor"),
    ({"initial": datetime(2026, 1, 1)}, CursorTypeError, "initial is a naive datetime"),
    ({"initial": [1]}, CursorTypeError, "list"),
    ({"end": at(5)}, ValueError, "end= needs initial="),
    ({"initial": at(5), "end": at(5)}, ValueError, "must be past initial"),
    ({"initial": at(0), "end": 5}, CursorTypeError, "end is a int"),
    ({"initial": at(0), "lag": 5}, CursorTypeError, "lag must be a timedelta"),
    ({"initial": 0, "lag": timedelta(1)}, CursorTypeError, "lag"),
    ({"lag": timedelta(minutes=-1)}, ValueError, "lag must not be negative"),
    ({"lag": "5m"}, TypeError, "lag must be a timedelta or a number"),
    ({"lag": float("nan")}, ValueError, "lag must be finite"),
    ({"initial": 0, "lag": float("inf")}, ValueError, "lag must be finite"),
    ({"initial": "a", "lag": 1}, CursorTypeError, "lag 1 cannot be taken from the str"),
    ({"initial": date(2026, 1, 1), "lag": 1}, CursorTypeError, "lag must be a timedelta"),
    ({"primary_key": 5}, TypeError, "primary_key must be"),
    ({"initial": Decimal(1), "lag": 0.5}, CursorTypeError, "lag 0.5 cannot be taken from"),
    ({"initial": 1.5, "lag": Decimal(1)}, CursorTypeError, "cannot be taken from the float"),
    ({"initial": Decimal(1), "end": 2.0}, CursorTypeError, "end is a float .* Decimal"),
    ({"initial": 1.0, "end": Decimal(2)}, CursorTypeError, "end is a Decimal .* float"),
    ({"initial": Decimal("Infinity")}, CursorTypeError, "finite"),
    ({"lag": Decimal("-0.1")}, ValueError, "lag must not be negative"),
    ({"lag": Decimal("NaN")}, ValueError, "lag must be finite"),
    ({"key": ""}, ValueError, "key"),
])
def test_bad_specs_fail_at_construction_naming_the_parameter(
        kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    kwargs.setdefault("cursor", "updated_at")
    with pytest.raises(error, match=match):
        WatermarkSpec(**kwargs)


def ids(*values: int) -> Boundary:
    return Boundary(frozenset(values))


S5 = State(5, ids(1))


@pytest.mark.parametrize(("current", "observed", "boundary", "expected"), [
    (None, None, ids(), None),                      # nothing observed: no write
    (None, 5, ids(1), S5),                          # first run
    (S5, 7, ids(2), State(7, ids(2))),              # forward: new boundary
    (S5, 3, ids(3), None),                          # behind: never backwards
    (S5, 5, ids(1), None),                          # same, nothing new
    (S5, 5, ids(2), State(5, ids(1, 2))),           # tie: united
    (S5, 5.0, ids(), None),                         # equal number, other type
])
def test_merge_table(current: State | None, observed: Any, boundary: Boundary,
                     expected: State | None) -> None:
    assert merged(current, observed, boundary) == expected


def test_a_concurrent_run_that_went_further_wins(assets: AssetStore) -> None:
    slow, fast = window(assets), window(assets)
    fast.filter(rows((1, 20)))
    slow.filter(rows((1, 10)))
    assert fast.commit() is True
    assert slow.commit() is False  # read 20 after its compare_and_set failed
    assert State.decode(assets.get("watermark")).cursor == at(20)


def test_a_concurrent_run_that_stayed_behind_is_overtaken(assets: AssetStore) -> None:
    slow, fast = window(assets), window(assets)
    fast.filter(rows((1, 20)))
    slow.filter(rows((1, 10)))
    assert slow.commit() is True and fast.commit() is True
    assert State.decode(assets.get("watermark")).cursor == at(20)


def test_compare_and_set_losing_every_time_raises_and_stores_nothing() -> None:
    class Flapping:
        def __init__(self) -> None:
            self.n = 0

        def get(self, key: str, default: Any = None) -> Any:
            self.n += 1
            return {"type": "int", "cursor": -self.n, "boundary": []}

        def compare_and_set(self, key: str, expected: Any, new: Any) -> bool:
            return False

    w = open_window(Flapping(), cursor="n")
    w.observe([{"n": 1}])
    with pytest.raises(WatermarkConflictError, match="nothing was stored"):
        w.commit()


def test_the_window_block_stores_nothing_when_it_raises(assets: AssetStore) -> None:
    with pytest.raises(RuntimeError), window(assets) as w:
        w.filter(rows((1, 1)))
        raise RuntimeError("load failed")
    assert assets.get("watermark") is None


# -- the lagged start at the edges of the cursor's type -------------------------------

def stored_after_a_first_run(assets: AssetStore, initial: Any, cursor: Any,
                             lag: Any = None) -> None:
    """Store ``cursor`` as the watermark the way a load does: a first run that saw it."""
    with open_window(assets, cursor="c", primary_key="id", initial=initial, lag=lag) as w:
        assert w.filter([{"id": 1, "c": cursor}]) == [{"id": 1, "c": cursor}]
    assert State.decode(assets.get("watermark")).cursor == cursor


@pytest.mark.parametrize(("initial", "cursor", "lag", "start"), [
    # the subtraction leaves the type's range: the start is initial, not an OverflowError
    (DT_MIN, DT_MIN + timedelta(hours=1), timedelta(days=1), DT_MIN),
    (DT_MIN, DT_MIN, timedelta(microseconds=1), DT_MIN),
    (at(0), at(10), timedelta.max, at(0)),
    (date.min, date.min + timedelta(days=1), timedelta(days=2), date.min),
    (date.min, date.min, timedelta(days=1), date.min),
    # in range but before initial: clamped all the same
    (at(0), at(1), timedelta(hours=1), at(0)),
    (date(2026, 1, 1), date(2026, 1, 2), timedelta(days=30), date(2026, 1, 1)),
    (0, 5, 10**30, 0),
    (0.5, 1.0, 2**1100, 0.5),       # float minus a huge int: no OverflowError either
    # not clamped: the lag stays within initial
    (DT_MIN, DT_MIN + timedelta(days=2), timedelta(days=1), DT_MIN + timedelta(days=1)),
    (0, 10**30, 10**30 - 1, 1),
    # Decimal: clamped, an int lag, an int floor, and exact beyond the context's 28 digits
    (Decimal(0), Decimal("5.5"), Decimal(10), Decimal(0)),
    (Decimal(0), Decimal("10.5"), 1, Decimal("9.5")),
    (0, Decimal("10.25"), Decimal("0.5"), Decimal("9.75")),
    (0, Decimal("12345678901234567890123456789.123456789"), Decimal("1E-9"),
     Decimal("12345678901234567890123456789.123456788")),
], ids=["datetime.min-1d", "datetime.min-1us", "timedelta.max", "date.min-2d",
        "date.min-1d", "datetime-clamped", "date-clamped", "int-clamped",
        "float-huge-int-lag", "datetime.min-in-range", "int-in-range", "decimal-clamped",
        "decimal-int-lag", "decimal-int-floor", "decimal-exact"])
def test_the_lagged_start_never_goes_below_initial(assets: AssetStore, initial: Any,
                                                   cursor: Any, lag: Any,
                                                   start: Any) -> None:
    stored_after_a_first_run(assets, initial, cursor, lag)
    w = open_window(assets, cursor="c", primary_key="id", initial=initial, lag=lag)
    assert w.start == start and type(w.start) is type(start)
    new = [{"id": 2, "c": start}, {"id": 3, "c": cursor}]
    assert w.filter([{"id": 1, "c": cursor}, *new]) == new  # id 1 is the known boundary
    assert w.commit() is True
    assert State.decode(assets.get("watermark")).cursor == cursor


def test_rows_before_initial_stay_out_when_the_lag_reaches_past_it(assets: AssetStore) -> None:
    stored_after_a_first_run(assets, 0, 5)
    w = open_window(assets, cursor="c", primary_key="id", initial=0, lag=10**30)
    assert w.filter([{"id": 2, "c": -1}, {"id": 3, "c": 0}]) == [{"id": 3, "c": 0}]


def test_a_stored_cursor_before_initial_starts_the_window_at_initial(
        assets: AssetStore) -> None:
    stored_after_a_first_run(assets, at(0), at(5))
    assert window(assets, cursor="c", initial=at(10)).start == at(10)
    assert window(assets, cursor="c", initial=at(0)).start == at(5)


@pytest.mark.parametrize(("cursor", "lag", "start"), [
    (DT_MIN, timedelta(days=1), DT_MIN),
    (datetime.min.replace(tzinfo=timezone(timedelta(hours=5))), timedelta(hours=1),
     datetime.min.replace(tzinfo=timezone(timedelta(hours=5)))),
    (date.min, timedelta(days=1), date.min),
])
def test_without_initial_a_start_below_the_range_is_the_types_smallest_value(
        assets: AssetStore, cursor: Any, lag: timedelta, start: Any) -> None:
    stored_after_a_first_run(assets, None, cursor)
    w = open_window(assets, cursor="c", primary_key="id", lag=lag)
    assert w.start == start and type(w.start) is type(start)
    if isinstance(start, datetime):
        assert w.start.utcoffset() == start.utcoffset()
    assert w.filter([{"id": 2, "c": cursor}]) == [{"id": 2, "c": cursor}]


def test_an_int_and_a_float_too_large_to_meet_are_subtracted_exactly_rounding_down(
        assets: AssetStore) -> None:
    stored_after_a_first_run(assets, None, 2**1100)
    w = open_window(assets, cursor="c", primary_key="id", lag=0.5)
    assert w.start == 2**1100 - 1  # an int at or before the exact 2**1100 - 0.5
    assert w.filter([{"id": 2, "c": 2**1100 - 1}, {"id": 3, "c": 2**1100 - 2}]) == \
        [{"id": 2, "c": 2**1100 - 1}]
    assert minus_lag(1.5, 2**1100) == 1 - 2**1100
    assert minus_lag(1.5, 2**1100, floor=-3) == -3


@pytest.mark.parametrize(("initial", "lag", "rows"), [
    (DT_MIN, timedelta(days=1), [DT_MIN, DT_MIN + timedelta(minutes=1)]),
    (date.min, timedelta(days=7), [date.min, date.min + timedelta(days=1)]),
])
def test_watermark_with_initial_at_the_minimum_decorates_and_runs_twice(
        assets: AssetStore, initial: Any, lag: timedelta, rows: list[Any]) -> None:
    @watermark("orders", cursor="c", primary_key="id", initial=initial, lag=lag)
    def load(window: Window, source: list[dict[str, Any]]) -> list[Any]:
        assert window.start == initial
        return window.filter(source)

    first = [{"id": i, "c": c} for i, c in enumerate(rows)]
    assert load(first, asset_store=assets) == first
    # The lag re-reads row 0 (only the boundary row 1 is known); row 9 is new.
    assert load([*first, {"id": 9, "c": rows[-1]}], asset_store=assets) == \
        [first[0], {"id": 9, "c": rows[-1]}]
    assert State.decode(assets.get("watermark")).cursor == rows[-1]


def test_a_decimal_lag_is_exact_whatever_the_decimal_context(assets: AssetStore) -> None:
    cursor = Decimal("98765432109876543210.987654321")
    stored_after_a_first_run(assets, None, cursor)
    with localcontext() as context:
        context.prec = 3
        w = open_window(assets, cursor="c", primary_key="id", lag=Decimal("0.000000001"))
    assert w.start == Decimal("98765432109876543210.987654320")
    assert minus_lag(Decimal("1E+999999"), Decimal("1E-999999")) < Decimal("1E+999999")


@pytest.mark.parametrize(("observed", "current"), [
    (Decimal(5), 5), (5, Decimal("5.0")), (Decimal("5.00"), Decimal(5)),
])
def test_decimal_and_int_cursors_compare_numerically_when_merged(observed: Any,
                                                                 current: Any) -> None:
    assert merged(State(current, ids(1)), observed, ids(1)) is None
    decimal = current if isinstance(current, Decimal) else observed
    with pytest.raises(CursorTypeError, match=r"float .* but the cursor is a Decimal"):
        merged(State(decimal, ids()), 5.5, ids())

"""dlt's window options: ``last_value_func``, open and closed edges, ``row_order`` early stop,
and ``lag`` that reloads changed rows; each on memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from resumable import CursorOrderError, CursorTypeError, Window, open_window, watermark
from resumable._window import State
from store_client import AssetStore, StoreClient

UTC = timezone.utc


@pytest.fixture
def assets(client: StoreClient) -> AssetStore:
    return client.asset_store("events")


def r(i: int, c: Any, **extra: Any) -> dict[str, Any]:
    return {"id": i, "c": c, **extra}


def ids(rows: list[dict[str, Any]]) -> list[int]:
    return [row["id"] for row in rows]


def run(store: AssetStore, rows: list[dict[str, Any]], **options: Any) -> list[int]:
    options.setdefault("primary_key", "id")
    with open_window(store, cursor="c", **options) as w:
        return ids(w.filter(rows))


def stored(store: AssetStore) -> Any:
    return State.decode(store.get("watermark")).cursor


# -- last_value_func ------------------------------------------------------------------

def test_min_reads_newest_first_and_moves_the_cursor_down(assets: AssetStore) -> None:
    assert run(assets, [r(1, 50), r(2, 40), r(3, 60)], last_value_func=min,
               initial=55) == [1, 2]  # 60 is before a min load's start
    assert stored(assets) == 40
    # the next run: 40 and below; the row at 40 already loaded is dropped
    assert run(assets, [r(2, 40), r(4, 40), r(5, 30), r(6, 45)],
               last_value_func=min, initial=55) == [4, 5]
    assert stored(assets) == 30


def test_min_never_moves_the_cursor_back_up(assets: AssetStore) -> None:
    run(assets, [r(1, 10)], last_value_func=min)
    slow = open_window(assets, cursor="c", primary_key="id", last_value_func=min)
    run(assets, [r(2, 5)], last_value_func=min)
    slow.filter([r(3, 10), r(4, 8)])  # behind the stored 5 for a min load
    assert slow.commit() is False and stored(assets) == 5


def test_min_with_lag_and_an_end(assets: AssetStore) -> None:
    run(assets, [r(1, 100)], last_value_func=min, initial=200)
    w = open_window(assets, cursor="c", primary_key="id", last_value_func=min,
                    initial=200, lag=10)
    assert w.start == 110  # up by the lag for a cursor that moves down
    assert open_window(assets, cursor="c", primary_key="id", last_value_func=min,
                       initial=105, lag=10).start == 105  # never past initial
    backfill = open_window(None, cursor="c", last_value_func=min, initial=100, end=90)
    assert ids(backfill.filter([r(1, 100), r(2, 95), r(3, 90), r(4, 101)])) == [1, 2]


def test_min_with_a_date_lag_rounds_up_to_whole_days(assets: AssetStore) -> None:
    run(assets, [r(1, date(2026, 3, 10))], last_value_func=min)
    w = open_window(assets, cursor="c", last_value_func=min, lag=timedelta(hours=5))
    assert w.start == date(2026, 3, 11)


def version(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split("."))


def newest_version(values: Any) -> str:
    return max(values, key=version)


def test_a_callable_last_value_func_orders_the_cursor(assets: AssetStore) -> None:
    rows = [r(1, "1.9"), r(2, "1.10"), r(3, "1.2")]
    assert run(assets, rows, last_value_func=newest_version) == [1, 2, 3]
    assert stored(assets) == "1.10"  # as text "1.9" would have won
    assert run(assets, [*rows, r(4, "1.10"), r(5, "1.11")],
               last_value_func=newest_version) == [4, 5]
    assert stored(assets) == "1.11"


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"last_value_func": 3}, TypeError, "last_value_func"),
    ({"last_value_func": newest_version, "lag": 1}, ValueError, "lag needs"),
    ({"last_value_func": min, "allow_external_schedulers": True}, ValueError, "max"),
    ({"last_value_func": min, "initial": 5, "end": 6}, ValueError, "past initial"),
    ({"last_value_func": max, "initial": 6, "end": 5}, ValueError, "past initial"),
    ({"last_value_func": newest_version, "initial": 5}, TypeError, "newest_version"),
    ({"range_start": "half"}, ValueError, "range_start"),
    ({"range_end": None}, ValueError, "range_end"),
    ({"row_order": "up"}, ValueError, "row_order"),
    ({"allow_external_schedulers": 1}, TypeError, "allow_external_schedulers"),
])
def test_bad_options_fail_when_the_window_is_configured(options: dict[str, Any],
                                                         error: type[Exception],
                                                         match: str) -> None:
    with pytest.raises(error, match=match):
        watermark("events", cursor="c", **options)


# -- open and closed edges ---------------------------------------------------------------

@pytest.mark.parametrize(("range_start", "range_end", "expected"), [
    ("closed", "open", [2, 3]), ("open", "open", [3]),
    ("closed", "closed", [2, 3, 4]), ("open", "closed", [3, 4]),
])
@pytest.mark.parametrize("func", [max, min])
def test_edges_open_or_closed(range_start: str, range_end: str, expected: list[int],
                              func: Any) -> None:
    sign = 1 if func is max else -1
    rows = [r(1, sign * 9), r(2, sign * 10), r(3, sign * 15), r(4, sign * 20),
            r(5, sign * 21)]
    w = open_window(None, cursor="c", initial=sign * 10, end=sign * 20,
                    last_value_func=func, range_start=range_start, range_end=range_end)
    assert ids(w.filter(rows)) == expected


def test_an_open_start_needs_no_boundary_and_skips_rows_at_the_cursor(
        assets: AssetStore) -> None:
    assert run(assets, [r(1, 5), r(2, 5)], range_start="open", initial=0) == [1, 2]
    assert State.decode(assets.get("watermark")).boundary.ids == frozenset()
    assert run(assets, [r(1, 5), r(3, 5), r(4, 6)], range_start="open", initial=0) == [4]


# -- row_order: stop reading once past the window ------------------------------------

class Pages:
    """An API that returns pages lazily and counts the pages fetched."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages, self.fetched = pages, 0

    def rows(self) -> Iterator[dict[str, Any]]:
        for page in self.pages:
            self.fetched += 1
            yield from page


NEWEST_FIRST = [[r(10 * p + i, 100 - 10 * p - i) for i in range(10)] for p in range(5)]


def test_desc_rows_stop_at_the_first_row_before_the_start(assets: AssetStore) -> None:
    run(assets, [r(0, 85)], initial=0)
    api = Pages(NEWEST_FIRST)
    w = open_window(assets, cursor="c", primary_key="id", initial=0, row_order="desc")
    kept = w.filter(api.rows())
    assert [row["c"] for row in kept] == list(range(100, 84, -1))
    assert w.exhausted and api.fetched == 2  # not the 5 pages an unordered read takes
    assert w.filter(api.rows()) == [] and api.fetched == 2


def test_asc_rows_stop_at_the_end() -> None:
    api = Pages([[r(10 * p + i, 10 * p + i) for i in range(10)] for p in range(5)])
    w = open_window(None, cursor="c", initial=0, end=15, row_order="asc")
    assert len(w.filter(api.rows())) == 15 and w.exhausted and api.fetched == 2


def test_without_row_order_every_page_is_read(assets: AssetStore) -> None:
    run(assets, [r(0, 85)], initial=0)
    api = Pages(NEWEST_FIRST)
    open_window(assets, cursor="c", primary_key="id", initial=0).filter(api.rows())
    assert api.fetched == 5


def test_page_by_page_the_exhausted_flag_ends_the_loop(assets: AssetStore) -> None:
    run(assets, [r(0, 85)], initial=0)
    fetched = 0
    with open_window(assets, cursor="c", primary_key="id", initial=0,
                     row_order="desc") as w:
        for page in NEWEST_FIRST:
            fetched += 1
            w.filter(page)
            if w.exhausted:
                break
    assert fetched == 2 and stored(assets) == 100


def test_rows_out_of_the_declared_order_are_refused(assets: AssetStore) -> None:
    w = open_window(assets, cursor="c", primary_key="id", initial=0, row_order="asc")
    w.filter([r(1, 1), r(2, 2)])
    with pytest.raises(CursorOrderError, match=r"row_order='asc'.*1.*after 2"):
        w.filter([r(3, 1)])  # across calls too
    w = open_window(assets, cursor="c", primary_key="id", initial=0, row_order="desc")
    with pytest.raises(CursorOrderError):
        w.filter([r(1, 5), r(2, 5), r(3, 6)])  # ties are fine, going up is not


def test_min_with_asc_rows_stops_at_the_start(assets: AssetStore) -> None:
    run(assets, [r(0, 50)], last_value_func=min)
    w = open_window(assets, cursor="c", primary_key="id", last_value_func=min,
                    row_order="asc")
    api = Pages([[r(1, 40), r(2, 45)], [r(3, 50), r(4, 55)], [r(5, 60)]])
    assert ids(w.filter(api.rows())) == [1, 2, 3] and api.fetched == 2


# -- lag reloads rows whose content changed ---------------------------------------------

def clicks(day: date, campaign: str, n: int) -> dict[str, Any]:
    return {"day": day, "campaign": campaign, "clicks": n}


def test_lag_reloads_yesterdays_updated_rows_and_drops_unchanged_ones(
        assets: AssetStore) -> None:
    d1, d2 = date(2026, 5, 1), date(2026, 5, 2)
    options: dict[str, Any] = {"cursor": "day", "primary_key": ("day", "campaign"),
                               "lag": timedelta(days=1), "initial": d1}
    with open_window(assets, **options) as w:
        w.filter([clicks(d1, "a", 5), clicks(d2, "a", 1), clicks(d2, "b", 2)])
    updated = [clicks(d1, "a", 5), clicks(d2, "a", 7), clicks(d2, "b", 2),
               clicks(date(2026, 5, 3), "a", 1)]
    with open_window(assets, **options) as w:
        assert w.start == d1
        kept = w.filter(updated)
    # d1 is in the lag window (delivered again for the upsert); d2/a changed: delivered;
    # d2/b is unchanged at the stored cursor: dropped
    assert kept == [updated[0], updated[1], updated[3]]


def test_lag_on_iso_text_cursors(assets: AssetStore) -> None:
    rows = [r(1, "2026-05-01T10:00:00Z"), r(2, "2026-05-01T12:00:00Z")]
    run(assets, rows, initial="2026-01-01T00:00:00Z", lag=timedelta(hours=3))
    w = open_window(assets, cursor="c", primary_key="id", initial="2026-01-01T00:00:00Z",
                    lag=timedelta(hours=3))
    assert w.start == "2026-05-01T09:00:00Z"
    assert ids(w.filter([*rows, r(3, "2026-05-01T08:59:59Z")])) == [1]
    assert open_window(assets, cursor="c", initial="2026-05-01T11:00:00Z",
                       lag=timedelta(hours=3)).start == "2026-05-01T11:00:00Z"


def test_lag_on_date_cursors_rounds_to_whole_days(assets: AssetStore) -> None:
    run(assets, [r(1, date(2026, 5, 10))], initial=date(2026, 1, 1))
    for lag, start in [(timedelta(hours=5), date(2026, 5, 9)),
                       (timedelta(days=2), date(2026, 5, 8)),
                       (timedelta(days=400), date(2026, 1, 1))]:
        w = open_window(assets, cursor="c", initial=date(2026, 1, 1), lag=lag)
        assert w.start == start, lag


def test_window_type_is_refused_for_a_naive_row_among_aware_ones(assets: AssetStore) -> None:
    aware = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(CursorTypeError, match="naive"):
        open_window(assets, cursor="c", initial=aware).filter(
            [r(1, aware), r(2, datetime(2026, 1, 2))])


def test_the_decorator_takes_every_option(assets: AssetStore) -> None:
    @watermark("events", cursor="c", primary_key="id", last_value_func=min,
               range_start="open", range_end="closed", row_order="desc")
    def load(window: Window) -> list[Any]:
        return window.filter([r(1, 3), r(2, 2)])

    assert ids(load(asset_store=assets)) == [1, 2]
    assert stored(assets) == 2

"""``allow_external_schedulers``: the window is Airflow's data interval; scheduled runs chain
and a backfill of an old interval neither reads nor moves the stored cursor."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from resumable import Window, open_window, watermark
from resumable._data_interval import DataInterval, data_interval
from resumable._window import State
from store_client import AssetStore, StoreClient

UTC = timezone.utc
DAY = timedelta(days=1)
D1 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def assets(client: StoreClient) -> AssetStore:
    return client.asset_store("orders")


class Spy:
    """An asset store that counts reads and writes."""

    def __init__(self, inner: AssetStore) -> None:
        self.inner, self.reads, self.writes = inner, 0, 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return self.inner.get(key, default)

    def compare_and_set(self, key: str, expected: Any, new: Any) -> bool:
        self.writes += 1
        return self.inner.compare_and_set(key, expected, new)


def context(start: datetime, end: datetime, run_type: str = "scheduled") -> dict[str, Any]:
    return {"data_interval_start": start, "data_interval_end": end,
            "dag_run": SimpleNamespace(run_type=SimpleNamespace(value=run_type))}


def orders(*hours: float) -> list[dict[str, Any]]:
    return [{"id": i, "at": D1 + timedelta(hours=h)} for i, h in enumerate(hours)]


def load(store: Any, ctx: dict[str, Any] | None, rows: list[dict[str, Any]],
         **options: Any) -> list[int]:
    with open_window(store, cursor="at", primary_key="id", initial=D1 - 30 * DAY,
                     allow_external_schedulers=True, context=ctx, **options) as w:
        return [row["id"] for row in w.filter(rows)]


def test_scheduled_runs_load_their_interval_and_chain_the_cursor(assets: AssetStore) -> None:
    rows = orders(-1, 0, 5, 23.5, 24, 30, 49)
    assert load(assets, context(D1, D1 + DAY), rows) == [1, 2, 3]  # [D1, D1+1d)
    assert State.decode(assets.get("watermark")).cursor == D1 + timedelta(hours=23.5)
    assert load(assets, context(D1 + DAY, D1 + 2 * DAY), rows) == [4, 5]
    assert State.decode(assets.get("watermark")).cursor == D1 + timedelta(hours=30)
    # switching the opt-in off continues from where the scheduled runs stopped
    with open_window(assets, cursor="at", primary_key="id") as w:
        assert w.start == D1 + timedelta(hours=30)


def test_a_backfill_neither_reads_nor_moves_the_stored_cursor(assets: AssetStore) -> None:
    rows = orders(-1, 0, 5, 23.5, 24, 30, 49)
    load(assets, context(D1 + DAY, D1 + 2 * DAY), rows)
    before = assets.get("watermark")
    spy = Spy(assets)
    assert load(spy, context(D1, D1 + DAY, "backfill"), rows) == [1, 2, 3]
    assert (spy.reads, spy.writes) == (0, 0)
    assert assets.get("watermark") == before


def test_an_old_scheduled_interval_rerun_does_not_move_the_cursor_back(
        assets: AssetStore) -> None:
    rows = orders(0, 5, 30)
    load(assets, context(D1 + DAY, D1 + 2 * DAY), rows)
    before = assets.get("watermark")
    assert load(assets, context(D1, D1 + DAY), rows) == [0, 1]  # a cleared old run
    assert assets.get("watermark") == before


def test_the_window_ignores_the_stored_cursor_and_its_boundary(assets: AssetStore) -> None:
    rows = orders(0, 5)
    load(assets, None, rows)  # no interval: a normal stored-cursor run stores hour 5
    assert load(assets, context(D1, D1 + DAY), rows) == [0, 1]  # the interval decides


def test_without_an_interval_the_window_is_the_stored_cursor_one(assets: AssetStore) -> None:
    rows = orders(0, 5)
    assert load(assets, {"data_interval_start": None, "data_interval_end": None},
                rows) == [0, 1]
    assert load(assets, {}, [*orders(0, 5), {"id": 9, "at": D1 + DAY}]) == [9]


def test_an_empty_interval_is_no_interval(assets: AssetStore) -> None:
    """Airflow 3's default cron timetable gives every run start == end: not a window."""
    load(assets, None, orders(0, 5))
    assert data_interval(context(D1, D1)) is None
    assert load(assets, context(D1, D1), [*orders(0, 5), {"id": 7, "at": D1 + DAY}]) == [7]


def test_without_the_opt_in_the_interval_is_ignored(assets: AssetStore) -> None:
    w = open_window(assets, cursor="at", initial=D1, context=context(D1 + DAY, D1 + 2 * DAY))
    assert (w.start, w.end) == (D1, None)


@pytest.mark.parametrize(("initial", "start", "end"), [
    (date(2026, 1, 1), date(2026, 6, 1), date(2026, 6, 2)),
    ("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"),
    (0, int(D1.timestamp()), int((D1 + DAY).timestamp())),
    (0.0, D1.timestamp(), (D1 + DAY).timestamp()),
    (Decimal(0), Decimal(int(D1.timestamp())), Decimal(int((D1 + DAY).timestamp()))),
    (None, D1, D1 + DAY),
])
def test_the_interval_takes_the_cursors_type(initial: Any, start: Any, end: Any) -> None:
    w = open_window(None, cursor="at", initial=initial, allow_external_schedulers=True,
                    context=context(D1, D1 + DAY, "backfill"))
    assert (w.start, w.end) == (start, end)
    assert type(w.start) is type(start)


def test_a_pendulum_like_datetime_subclass_is_taken_as_a_plain_datetime() -> None:
    class DateTime(datetime):
        pass

    start = DateTime(2026, 6, 1, tzinfo=UTC)
    w = open_window(None, cursor="at", allow_external_schedulers=True,
                    context=context(start, start + DAY, "backfill"))
    assert w.start == D1 and type(w.start) is datetime


@pytest.mark.parametrize(("ctx", "error"), [
    ({"data_interval_start": datetime(2026, 1, 1), "data_interval_end": D1}, TypeError),
    ({"data_interval_start": D1 + DAY, "data_interval_end": D1}, ValueError),
])
def test_a_bad_interval_is_refused(ctx: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="data_interval"):
        data_interval(ctx)


def test_the_run_type_may_be_an_enum_or_a_string() -> None:
    assert data_interval(context(D1, D1 + DAY, "backfill")) == DataInterval(D1, D1 + DAY, True)
    plain = {"data_interval_start": D1, "data_interval_end": D1 + DAY,
             "dag_run": SimpleNamespace(run_type="backfill")}
    assert data_interval(plain) == DataInterval(D1, D1 + DAY, True)
    assert data_interval(None) is None


def test_the_decorator_finds_the_running_tasks_interval(
        assets: AssetStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import resumable._context as context_module
    monkeypatch.setattr(context_module, "current_airflow_context",
                        lambda: context(D1, D1 + DAY))

    @watermark("orders", cursor="at", primary_key="id", allow_external_schedulers=True)
    def run(window: Window) -> list[Any]:
        return window.filter(orders(-1, 2, 25))

    assert [row["id"] for row in run(asset_store=assets)] == [1]
    assert State.decode(assets.get("watermark")).cursor == D1 + timedelta(hours=2)

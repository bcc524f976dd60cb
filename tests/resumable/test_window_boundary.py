"""Boundaries of any size: many rows at one cursor value, in bounded state, never a row lost.

The pure part (:class:`Boundary`) is checked by property: whatever loads, merges and caps
happen, a row is dropped only if it was loaded. The stored part runs on memory, SQLite
and PostgreSQL: 100,000 rows at one cursor commit, the state stays under Airflow's
65,535-byte value limit, and the next run delivers every new row.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resumable import open_window
from resumable._boundary import BOUNDARY_LIMIT, Boundary, BoundaryBuilder
from resumable._window import State
from store_client import AssetStore, StoreClient, connect

AIRFLOW_VALUE_LIMIT = 65_535
DAY = date(2026, 11, 28)


@pytest.fixture
def assets(client: StoreClient) -> AssetStore:
    return client.asset_store("clicks")


def day_rows(ids: range | list[int], day: date = DAY) -> list[dict[str, Any]]:
    return [{"id": i, "day": day, "clicks": i % 7} for i in ids]


def load(store: AssetStore, rows: list[dict[str, Any]], **options: Any) -> list[int]:
    """One run: the ids it delivers; the cursor is committed."""
    options.setdefault("primary_key", "id")
    with open_window(store, cursor="day", initial=date(2026, 1, 1), **options) as w:
        return [r["id"] for r in w.filter(rows)]


def stored_bytes(store: AssetStore) -> int:
    return len(json.dumps(store.get("watermark")).encode())


# -- the pure boundary ---------------------------------------------------------------

identities = st.integers(min_value=0, max_value=(1 << 64) - 1)


@settings(max_examples=200, deadline=None)
@given(loads=st.lists(st.sets(identities, max_size=40), min_size=1, max_size=5),
       limit=st.integers(min_value=0, max_value=12), probe=st.sets(identities, max_size=20))
def test_a_row_is_known_only_if_it_was_loaded(loads: list[set[int]], limit: int,
                                              probe: set[int]) -> None:
    boundary = Boundary()
    for ids in loads:
        builder = BoundaryBuilder(limit)
        for ident in ids:
            builder.add(ident)
        boundary = boundary.union(builder.build(), limit)
    loaded = set().union(*loads)
    assert len(boundary.ids) <= limit
    for ident in loaded | probe:
        if boundary.knows(ident):
            assert ident in loaded  # never drop a row that was not loaded
        if ident in loaded and ident <= boundary.below:
            assert boundary.knows(ident)  # and everything under the cut is known
    assert Boundary.decode(boundary.encode()) == boundary


def test_a_full_boundary_fits_airflows_value_limit() -> None:
    full = Boundary(frozenset(range(10**12, 10**12 + BOUNDARY_LIMIT)), below=10**15)
    state = State(DAY, full).encode()
    assert len(json.dumps(state).encode()) < AIRFLOW_VALUE_LIMIT
    assert State.decode(state) == State(DAY, full)


def test_the_older_list_of_hex_form_still_reads() -> None:
    old = {"type": "int", "cursor": 5, "boundary": ["00000000000000ff", "0000000000000001"]}
    assert State.decode(old).boundary == Boundary(frozenset({255, 1}))


@pytest.mark.parametrize("bad", [{"boundary": "!!"}, {"boundary": "AAAA"},
                                 {"boundary": "", "boundary_below": "zz"}])
def test_a_damaged_boundary_is_a_cursor_type_error(bad: dict[str, Any]) -> None:
    from resumable import CursorTypeError
    with pytest.raises(CursorTypeError, match="boundary"):
        State.decode({"type": "int", "cursor": 5, **bad})


# -- many rows at one cursor, on every store --------------------------------------------

def test_100000_rows_at_one_cursor_commit_and_the_next_run_misses_none(
        assets: AssetStore) -> None:
    first = load(assets, day_rows(range(100_000)))
    assert len(first) == 100_000
    size = stored_bytes(assets)
    assert size < AIRFLOW_VALUE_LIMIT, size
    state = State.decode(assets.get("watermark"))
    assert state.cursor == DAY and len(state.boundary.ids) == BOUNDARY_LIMIT
    # 25 new rows at the same day, 5 the day after: every one of them is delivered
    again = load(assets, day_rows(range(100_025)) + day_rows(range(200_000, 200_005),
                                                             date(2026, 11, 29)))
    assert set(range(100_000, 100_025)) | set(range(200_000, 200_005)) <= set(again)
    known = state.boundary.ids
    redelivered = [i for i in again if i < 100_000]
    assert len(redelivered) == 100_000 - BOUNDARY_LIMIT  # only the rows not remembered
    assert all(i < 100_000 for i in redelivered) and known  # the known ones were dropped
    assert State.decode(assets.get("watermark")).cursor == date(2026, 11, 29)


def test_a_boundary_that_stays_on_one_day_keeps_every_new_row(assets: AssetStore) -> None:
    delivered: list[int] = []
    for run in range(4):  # the day keeps filling up: 5,000 rows per run
        delivered += load(assets, day_rows(range((run + 1) * 5_000)))
        assert stored_bytes(assets) < AIRFLOW_VALUE_LIMIT
    assert set(delivered) == set(range(20_000))  # nothing lost; re-deliveries allowed


def test_a_store_with_a_smaller_value_limit_keeps_fewer_identities(tmp_path: Any) -> None:
    client = connect(f"sqlite:///{tmp_path}/small.db", max_value_bytes=8_192)
    try:
        store = client.asset_store("clicks")
        assert len(load(store, day_rows(range(10_000)))) == 10_000
        kept = State.decode(store.get("watermark")).boundary
        assert 0 < len(kept.ids) < 1_000 and not kept.complete
        assert set(range(10_000, 10_010)) <= set(load(store, day_rows(range(10_010))))
    finally:
        client.close()


def test_concurrent_runs_at_the_same_cursor_unite_within_the_limit(
        assets: AssetStore) -> None:
    a = open_window(assets, cursor="day", primary_key="id")
    b = open_window(assets, cursor="day", primary_key="id")
    a.filter(day_rows(range(0, 6_000)))
    b.filter(day_rows(range(3_000, 9_000)))
    assert a.commit() and b.commit()
    state = State.decode(assets.get("watermark"))
    assert len(state.boundary.ids) == BOUNDARY_LIMIT
    assert set(range(9_000, 9_010)) <= set(load(assets, day_rows(range(9_010))))


def test_without_dedup_nothing_is_remembered(assets: AssetStore) -> None:
    load(assets, day_rows(range(10_000)), primary_key=())
    assert State.decode(assets.get("watermark")).boundary == Boundary()
    load(assets, day_rows(range(10_000)), range_start="open")
    assert State.decode(assets.get("watermark")).boundary == Boundary()

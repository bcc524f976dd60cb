"""The incremental-load example on SQLite and on a real PostgreSQL: runs repeated while rows
arrive (during a run, at the boundary timestamp, not at all) load every source row exactly
once; the stored cursor is the largest ``updated_at`` loaded, never the clock; a run that
raises stores nothing; ``lag=`` catches a late row older than the cursor."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError, StatementError

from examples.incremental_load.load import (
    ASSET,
    KEY,
    LoadResult,
    Pacing,
    load_orders,
    main,
    run_load,
)
from examples.incremental_load.tables import engine_for
from resumable._window import State
from store_client import connect
from tests.examples.incremental_support import (
    UTC,
    Databases,
    LoadProcess,
    add,
    minutes,
    order,
    postgres_databases,
    source_times,
    sqlite_databases,
    stored,
    stored_cursor,
    target_rows,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Databases:
    """Source, target and store: three SQLite files, or three new PostgreSQL databases."""
    if request.param == "sqlite":
        return sqlite_databases(tmp_path)
    return postgres_databases(request.getfixturevalue("postgres_server"))


def run(dbs: Databases, **kwargs: object) -> LoadResult:
    """One run of the load in this process (the target table is created if missing)."""
    return run_load(dbs.source, dbs.target, dbs.store, create_target=True,
                    **kwargs)  # type: ignore[arg-type]


def check_consistent(dbs: Databases, *, arrived_during_last_run: Collection[int] = ()
                     ) -> datetime:
    """The stored cursor is the target's largest ``updated_at`` (not the clock), every
    target row is its source row, and no source row at or before the cursor is missing
    (except rows inserted while the last run ran, which the next run loads)."""
    source, target = source_times(dbs.source), target_rows(dbs.target)
    cursor = stored_cursor(dbs.store)
    assert cursor is not None
    assert cursor == max(at for at, _ in target.values())
    assert abs(cursor - datetime.now(UTC)) > timedelta(days=300)
    assert all(source[i] == at for i, (at, _) in target.items())
    covered = {i for i, at in source.items() if at <= cursor} - set(arrived_during_last_run)
    assert covered <= set(target), sorted(covered - set(target))
    return cursor


def test_runs_while_rows_arrive_load_every_row_once(dbs: Databases) -> None:
    first_max = minutes(4) + timedelta(microseconds=123456)
    add(dbs.source, [order(i, minutes(i // 3)) for i in range(12)])  # 3 rows per minute
    add(dbs.source, [order(12, first_max), order(13, first_max)])
    result = run(dbs)
    assert (result.loaded, result.cursor_before) == (14, None)
    assert check_consistent(dbs) == first_max  # microseconds kept
    boundary = State.decode(stored(dbs.store)).boundary
    assert len(boundary.ids) == 2  # ids 12 and 13 share the cursor

    # (b) between runs: two rows at exactly the boundary timestamp, one later.
    add(dbs.source, [order(14, first_max), order(15, first_max), order(16, minutes(5))])
    assert run(dbs).loaded == 3
    assert check_consistent(dbs) == minutes(5)

    # (a) during a run: it selected rows up to minutes(7), then rows arrive at that very
    # timestamp and later, before it writes and stores its cursor.
    add(dbs.source, [order(17, minutes(6)), order(18, minutes(7)), order(19, minutes(7))])
    during = LoadProcess(dbs, "--pause-after-select", "1.0")
    assert "selected 4 rows" in during.wait_for("progress: selected")  # 16 (boundary)..19
    add(dbs.source, [order(20, minutes(7)), order(21, minutes(8)), order(22, minutes(7))])
    summary = during.finish()
    assert summary.startswith("loaded 3 rows;"), summary
    assert check_consistent(dbs, arrived_during_last_run={20, 22}) == minutes(7)
    assert not {20, 21, 22} & set(target_rows(dbs.target))

    # The next run picks up the rows that arrived, those at the boundary included.
    assert run(dbs).loaded == 3
    assert check_consistent(dbs) == minutes(8)

    # (c) no new rows: nothing written, the watermark untouched.
    target_before, watermark_before = target_rows(dbs.target), stored(dbs.store)
    result = run(dbs)
    assert result.loaded == 0 and result.cursor_after == result.cursor_before
    assert target_rows(dbs.target) == target_before
    assert stored(dbs.store) == watermark_before

    target = target_rows(dbs.target)
    assert sorted(target) == sorted(source_times(dbs.source)) == list(range(23))
    assert {loads for _, loads in target.values()} == {1}  # every row written exactly once


def test_a_run_that_raises_stores_nothing(dbs: Databases) -> None:
    add(dbs.source, [order(i, minutes(i)) for i in range(1, 6)])
    source, target = engine_for(dbs.source), engine_for(dbs.target)
    try:
        with connect(dbs.store) as client:
            store = client.asset_store(ASSET)
            with pytest.raises(DBAPIError):  # the target table does not exist yet
                load_orders(source, target, asset_store=store)
            assert store.get(KEY) is None

            assert run(dbs).loaded == 5
            before = store.get(KEY)
            add(dbs.source, [order(i, minutes(i)) for i in range(6, 10)])

            def explode(message: str) -> None:
                if message.startswith("upserted"):
                    raise RuntimeError("forced failure in the middle of the write")

            with pytest.raises(RuntimeError, match="forced failure"):
                load_orders(source, target, Pacing(chunk_size=2), explode, asset_store=store)
            assert store.get(KEY) == before  # nothing stored
            assert sorted(target_rows(dbs.target)) == [1, 2, 3, 4, 5]  # rolled back
    finally:
        source.dispose()
        target.dispose()
    assert run(dbs).loaded == 4
    assert {loads for _, loads in target_rows(dbs.target).values()} == {1}
    assert check_consistent(dbs) == minutes(9)


def test_lag_catches_a_late_row_older_than_the_cursor(dbs: Databases) -> None:
    add(dbs.source, [order(i, minutes(i)) for i in range(1, 7)])
    assert run(dbs).loaded == 6
    add(dbs.source, [order(7, minutes(3))])  # committed late, 2 minutes before the cursor
    assert run(dbs).loaded == 0  # without lag it is behind the window: missed
    assert 7 not in target_rows(dbs.target)

    summary = LoadProcess(dbs, "--lag", "300").finish()  # re-read 5 minutes
    assert "(unchanged)" in summary, summary  # the cursor never moves backwards
    target = target_rows(dbs.target)
    assert sorted(target) == list(range(1, 8))  # the late row is in; the upsert absorbed
    # with lag, rows at the cursor are told apart by content, not id (an updated row is
    # delivered again): the first run with lag re-delivers the one stored by id, once
    assert target[6][1] == 2
    LoadProcess(dbs, "--lag", "300").finish()
    assert target_rows(dbs.target)[6][1] == 2  # unchanged since: dropped
    assert check_consistent(dbs) == minutes(6)


def test_updated_at_reads_back_aware_utc(dbs: Databases) -> None:
    plus_two = timezone(timedelta(hours=2))
    add(dbs.source, [order(1, datetime(2021, 3, 1, 10, 0, 0, 5, tzinfo=plus_two))])
    [at] = source_times(dbs.source).values()
    assert at == minutes(0) + timedelta(microseconds=5) and at.tzinfo == UTC
    with pytest.raises(StatementError, match="tz-aware"):
        add(dbs.source, [order(2, datetime(2021, 3, 1, 9, 0))])


@pytest.mark.parametrize("case", ["no source table", "no target table", "bad url",
                                  "negative pause", "missing option", "bad store url"])
def test_user_mistakes_print_one_line_and_exit_2(case: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dbs = sqlite_databases(tmp_path)
    if case != "no source table":
        add(dbs.source, [order(1, minutes(0))])
    args = {
        "no source table": dbs.cli_args(),
        "no target table": dbs.cli_args(),
        "bad url": ["--source", "nosuchdb://x", "--target", dbs.target, "--store-url",
                    dbs.store],
        "negative pause": [*dbs.cli_args(), "--pause-after-select", "-1"],
        "missing option": ["--source", dbs.source],
        "bad store url": ["--source", dbs.source, "--target", dbs.target, "--create-target",
                          "--store-url", "nosuchstore://x"],
    }[case]
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own mistakes
        code = exit_.code  # type: ignore[assignment]
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == "" and len(err.splitlines()) == 1, err
    assert stored(dbs.store) is None

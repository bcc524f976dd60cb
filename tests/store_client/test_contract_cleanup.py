"""Contract: cleanup deletes exactly the expired task rows, in batches, or reports them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from store_client import NEVER_EXPIRE, CleanupRow, StoreClient, TaskScope
from tests.store_client.bulk import bulk_put
from tests.support.clock import FakeClock


def _seed(client: StoreClient) -> None:
    a0 = client.task_store(TaskScope("dag", "run", "a", 0))
    a1 = client.task_store(TaskScope("dag", "run", "a", 1))
    a0.set("old", 1, retention=timedelta(hours=1))
    a1.set("old", 2, retention=timedelta(minutes=5))
    a0.set("fresh", 3, retention=timedelta(days=2))
    a0.set("never", 4, retention=NEVER_EXPIRE)
    client.asset_store("orders").set("cursor", 5)


def test_dry_run_reports_rows_and_deletes_nothing(client: StoreClient, clock: FakeClock) -> None:
    _seed(client)
    clock.advance(timedelta(hours=2))
    report = client.cleanup(dry_run=True)
    assert report.dry_run and report.count == 2
    assert sorted(report.rows, key=lambda r: r.map_index) == [
        CleanupRow("dag", "run", "a", 0, "old"), CleanupRow("dag", "run", "a", 1, "old")]
    clock.advance(-timedelta(hours=2))
    assert client.task_store(TaskScope("dag", "run", "a", 0)).get("old") == 1


def test_cleanup_deletes_only_expired_task_rows(client: StoreClient, clock: FakeClock) -> None:
    _seed(client)
    clock.advance(timedelta(hours=2))
    report = client.cleanup()
    assert (report.count, report.dry_run, report.rows) == (2, False, ())
    clock.advance(-timedelta(hours=2))
    assert client.task_store(TaskScope("dag", "run", "a", 0)).items() == {"fresh": 3, "never": 4}
    assert client.task_store(TaskScope("dag", "run", "a", 1)).items() == {}
    assert client.asset_store("orders").get("cursor") == 5
    clock.advance(timedelta(days=365 * 100))
    assert client.cleanup().count == 1  # "fresh"; never "never", never assets
    assert client.cleanup().count == 0
    assert client.task_store(TaskScope("dag", "run", "a", 0)).items() == {"never": 4}


@pytest.mark.parametrize("batch_size", [0, 7_000])
def test_cleanup_of_100k_rows(client: StoreClient, clock: FakeClock, batch_size: int) -> None:
    expired, kept = 100_000, 1_000
    bulk_put(client, expired, expires_at=clock.now + timedelta(minutes=1), task="old")
    bulk_put(client, kept, expires_at=None, task="never")
    bulk_put(client, kept, expires_at=clock.now + timedelta(days=9), task="later")
    clock.advance(timedelta(hours=1))
    dry = client.cleanup(dry_run=True, batch_size=batch_size)
    assert dry.count == expired and len(dry.rows) == expired
    assert dry.rows[0].task_id == "old"
    report = client.cleanup(batch_size=batch_size)
    assert report.count == expired
    assert client.cleanup(batch_size=batch_size).count == 0
    assert len(client.task_store(TaskScope("dag", "run", "never")).items()) == kept
    assert len(client.task_store(TaskScope("dag", "run", "later")).items()) == kept


def test_batch_size_is_checked(client: StoreClient) -> None:
    for bad in (-1, 1.5, "10"):
        with pytest.raises(ValueError, match="batch_size"):
            client.cleanup(batch_size=bad)  # type: ignore[arg-type]

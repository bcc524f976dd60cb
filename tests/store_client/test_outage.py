"""A PostgreSQL server stopped mid-test: bounded retries, a clear error, then recovery."""

from __future__ import annotations

import logging
import time

import pytest

from store_client import RetryPolicy, StoreUnavailableError, TaskScope, connect
from tests.support.postgres import PostgresServer

SCOPE = TaskScope("dag", "run", "task")


def test_stopped_server_raises_after_bounded_retries_then_recovers(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = postgres_server.create_database("outage")
    policy = RetryPolicy(attempts=4, initial_wait=0.05, max_wait=0.2)
    with connect(url, retry=policy) as client:
        ts = client.task_store(SCOPE)
        ts.set("k", 1)
        postgres_server.stop()
        try:
            for call in (lambda: ts.get("k"), lambda: ts.set("k", 2),
                         lambda: client.asset_store("a").compare_and_set("c", None, 1),
                         lambda: client.cleanup()):
                caplog.clear()
                started = time.monotonic()
                with caplog.at_level(logging.WARNING, logger="store_client"), \
                        pytest.raises(StoreUnavailableError, match="unavailable") as info:
                    call()
                elapsed = time.monotonic() - started
                assert elapsed < 10, elapsed
                retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
                assert len(retries) == policy.attempts - 1
                assert info.value.__cause__ is not None  # translated with "from exc"
                assert "password" not in str(info.value)
        finally:
            postgres_server.start()
        assert ts.get("k") == 1  # same client, new connections: works again
        ts.set("k", 3)
        assert ts.get("k") == 3


def test_unreachable_store_fails_at_first_call_not_at_connect() -> None:
    client = connect("postgresql+psycopg://postgres@127.0.0.1:1/postgres",
                     retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1"):
        client.task_store(SCOPE).get("k")

"""Every store call is bounded: a held lock or a frozen server ends in StoreUnavailableError.

Real PostgreSQL servers and real SQLite files: another connection holds a lock, or the
whole server is frozen with SIGSTOP (its sockets stay open, nothing answers). The call
gives up after its timeouts and the bounded retries, names the cause, and the same client
works again once the lock is released or the server thawed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from store_client import (
    ConfigurationError,
    RetryPolicy,
    StoreAuthError,
    StoreClient,
    StoreUnavailableError,
    TaskScope,
    connect,
)
from tests.support.postgres import PostgresServer

SCOPE = TaskScope("dag", "run", "task")
FEW_RETRIES = RetryPolicy(attempts=2, initial_wait=0.05, max_wait=0.1, deadline=5)


@pytest.fixture(scope="module")
def own_server() -> Iterator[PostgresServer]:
    """A server of this module's own: freezing it must not stall other tests."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_client(own_server: PostgresServer) -> Iterator[StoreClient]:
    with connect(own_server.url, statement_timeout=1, lock_timeout=0.5, connect_timeout=2,
                 retry=FEW_RETRIES) as client:
        client.task_store(SCOPE).set("k", 0)
        yield client


def _timed_failure(call: object) -> tuple[float, StoreUnavailableError]:
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        call()  # type: ignore[operator]
    return time.monotonic() - started, info.value


def test_a_held_table_lock_ends_in_lock_timeout_then_the_client_recovers(
        own_server: PostgresServer, pg_client: StoreClient) -> None:
    ts = pg_client.task_store(SCOPE)
    with psycopg.connect(own_server.conninfo()) as other:
        other.execute("LOCK TABLE resumable_task_state IN ACCESS EXCLUSIVE MODE")
        for call in (lambda: ts.set("k", 1), lambda: ts.get("k"),
                     lambda: pg_client.cleanup()):
            elapsed, error = _timed_failure(call)
            assert "lock timeout" in str(error)
            assert elapsed < 4, elapsed  # 2 attempts x 0.5 s lock wait, plus backoff
    ts.set("k", 2)
    assert ts.get("k") == 2


def test_a_held_row_lock_bounds_compare_and_set(own_server: PostgresServer,
                                                pg_client: StoreClient) -> None:
    assets = pg_client.asset_store("orders")
    assets.set("cursor", 1)
    with psycopg.connect(own_server.conninfo()) as other:
        other.execute("SELECT * FROM resumable_asset_state FOR UPDATE")
        elapsed, error = _timed_failure(lambda: assets.compare_and_set("cursor", 1, 2))
        assert elapsed < 4 and "lock timeout" in str(error)
    assert assets.compare_and_set("cursor", 1, 2)


def test_a_frozen_server_ends_in_a_bounded_error_then_the_client_recovers(
        own_server: PostgresServer, pg_client: StoreClient) -> None:
    ts = pg_client.task_store(SCOPE)
    with own_server.frozen():
        for call in (lambda: ts.set("k", 3), lambda: ts.get("k")):
            elapsed, error = _timed_failure(call)
            # one attempt on the pooled connection (1 s + 2 s grace, broken by the
            # watchdog), one on a new connection (connect_timeout 2 s), backoff between
            assert elapsed < 8, elapsed
            assert "unavailable" in str(error)
    ts.set("k", 4)
    assert ts.get("k") == 4


def test_a_new_client_against_a_frozen_server_gives_up_at_connect_timeout(
        own_server: PostgresServer) -> None:
    with own_server.frozen(), connect(own_server.url, connect_timeout=2,
                                      retry=RetryPolicy(attempts=1)) as client:
        elapsed, error = _timed_failure(lambda: client.task_store(SCOPE).get("k"))
    assert elapsed < 4, elapsed
    assert "timeout" in str(error)


def test_a_locked_sqlite_file_ends_in_a_bounded_error(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with connect(f"sqlite:///{path}", lock_timeout=0.3, retry=FEW_RETRIES) as client:
        ts = client.task_store(SCOPE)
        ts.set("k", 1)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # holds the write lock
        try:
            elapsed, error = _timed_failure(lambda: ts.set("k", 2))
            assert elapsed < 3, elapsed
            assert "locked" in str(error)
            assert ts.get("k") == 1  # WAL: readers are not blocked by a writer
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        ts.set("k", 3)
        assert ts.get("k") == 3


def test_timeouts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("RESUMABLE_STATEMENT_TIMEOUT", "12.5")
    monkeypatch.setenv("RESUMABLE_LOCK_TIMEOUT", "0.25")
    settings = connect("memory://").settings
    assert (settings.connect_timeout, settings.statement_timeout,
            settings.lock_timeout) == (3, 12.5, 0.25)
    defaults = connect("memory://", connect_timeout=1).settings
    assert defaults.connect_timeout == 1  # a keyword beats the variable


@pytest.mark.parametrize(("change", "error", "message"), [
    (("@127.0.0.1", "@127.0.0.1"), ConfigurationError, 'database "no_such_db" does not exist'),
    (("postgres@", "nobody@"), StoreAuthError, 'role "nobody" does not exist'),
])
def test_a_wrong_database_or_role_fails_at_once_without_retries(
        own_server: PostgresServer, change: tuple[str, str], error: type[Exception],
        message: str) -> None:
    url = own_server.database_url("no_such_db" if error is ConfigurationError
                                  else "postgres").replace(*change)
    started = time.monotonic()
    with connect(url) as client, pytest.raises(error, match=message):
        client.task_store(SCOPE).get("k")
    assert time.monotonic() - started < 1  # not retried

"""Fixtures shared by every test package: real servers, and empty stores of each backend.

``store_url`` runs a test on memory, SQLite and PostgreSQL (the contract suites of
``store_client`` and ``resumable``); ``persistent_url`` on SQLite and PostgreSQL only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete

from store_client import StoreClient, connect
from store_client._sql_schema import asset_state, ensure_schema, task_state
from tests.support import require_or_skip
from tests.support.clock import FakeClock
from tests.support.postgres import PostgresServer, find_pg_bindir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1 for the whole session (skips if no binaries)."""
    if find_pg_bindir() is None:
        require_or_skip(
            "PostgreSQL binaries (initdb, pg_ctl) not found; apt-get install postgresql")
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


BACKENDS = ["memory", "sqlite", "postgresql"]
PERSISTENT = ["sqlite", "postgresql"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Yield the URL of an empty store of kind ``request.param``; empty it afterwards."""
    kind = request.param
    if kind == "memory":
        yield "memory://"
    elif kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"  # a new file per test
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        yield server.url  # one database for the session, emptied after each test
        with connect(server.url) as client:
            ensure_schema(client.backend.engine)  # type: ignore[attr-defined]
            with client.backend.engine.begin() as conn:  # type: ignore[attr-defined]
                conn.execute(delete(task_state))
                conn.execute(delete(asset_state))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store of each backend kind."""
    yield from _empty_store(request, tmp_path)


@pytest.fixture(params=PERSISTENT)
def persistent_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty SQLite or PostgreSQL store."""
    yield from _empty_store(request, tmp_path)


@pytest.fixture
def client(store_url: str, clock: FakeClock) -> Iterator[StoreClient]:
    """A client of each backend on a fake clock."""
    with connect(store_url, clock=clock) as c:
        yield c

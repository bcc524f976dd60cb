"""The contract fixtures: every contract test runs on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete

from store_client import StoreClient, connect
from store_client._sql_schema import asset_state, ensure_schema, task_state
from tests.support.postgres import PostgresServer

BACKENDS = ["memory", "sqlite", "postgresql"]
PERSISTENT = ["sqlite", "postgresql"]


class FakeClock:
    """A controllable UTC clock handed to ``connect(clock=...)``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


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

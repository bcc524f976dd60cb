"""The contract fixtures: every contract test runs on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete

from store_client import StoreClient, connect
from store_client._sql import SqlBackend
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


def _url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.url


def _wipe(client: StoreClient) -> None:
    """Empty a shared PostgreSQL database between tests (SQLite gets a new file each)."""
    if isinstance(client.backend, SqlBackend):
        ensure_schema(client.backend.engine)
        with client.backend.engine.begin() as conn:
            conn.execute(delete(task_state))
            conn.execute(delete(asset_state))


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store of each backend kind."""
    url = _url_for(request.param, request, tmp_path)
    yield url
    if request.param == "postgresql":
        with connect(url) as cleaner:
            _wipe(cleaner)


@pytest.fixture(params=PERSISTENT)
def persistent_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty SQLite or PostgreSQL store."""
    url = _url_for(request.param, request, tmp_path)
    yield url
    if request.param == "postgresql":
        with connect(url) as cleaner:
            _wipe(cleaner)


@pytest.fixture
def client(store_url: str, clock: FakeClock) -> Iterator[StoreClient]:
    """A client of each backend on a fake clock."""
    with connect(store_url, clock=clock) as c:
        yield c

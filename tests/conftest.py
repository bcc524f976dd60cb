"""Fixtures shared by every test package: real servers, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import require_or_skip
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

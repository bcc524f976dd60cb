"""Self-test of the throwaway PostgreSQL server used by the test suite."""

from __future__ import annotations

import psycopg
import pytest

from . import require_or_skip
from .postgres import PostgresServer, find_pg_bindir


def _select_one(conninfo: str) -> int:
    with psycopg.connect(conninfo, connect_timeout=5) as conn:
        row = conn.execute("select 1").fetchone()
    assert row is not None
    value: int = row[0]
    return value


def test_start_stop_restart_close() -> None:
    if find_pg_bindir() is None:
        require_or_skip("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")

    server = PostgresServer()
    with server:
        port = server.port
        assert server.url == f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        assert _select_one(server.conninfo()) == 1
        root = server.log_path.parent
        assert root.is_dir()

        server.stop()
        server.stop()  # idempotent
        with pytest.raises(psycopg.OperationalError):
            _select_one(server.conninfo())

        server.start()
        assert server.port == port
        assert _select_one(server.conninfo()) == 1

        url = server.create_database("isolated_db")
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{port}/isolated_db"
        assert _select_one(server.conninfo("isolated_db")) == 1

    assert not root.exists()
    server.close()  # idempotent
    with pytest.raises(RuntimeError):
        server.start()

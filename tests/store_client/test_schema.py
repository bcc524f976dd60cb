"""The SQL schema carries a version: recorded on first use, newer refused, older migrated."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, select, update

from store_client import SchemaVersionError, TaskScope, connect
from store_client import _sql_schema as schema


def _version(url: str) -> str:
    with connect(url) as client, client.backend.engine.connect() as conn:  # type: ignore[attr-defined]
        return str(conn.scalar(select(schema.meta.c.value).where(
            schema.meta.c.name == "schema_version")))


def _set_version(url: str, version: int) -> None:
    with connect(url) as client, client.backend.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(update(schema.meta).values(value=str(version)))


def test_version_is_recorded_on_first_use(persistent_url: str) -> None:
    connect(persistent_url).task_store(TaskScope("d", "r", "t")).set("k", 1)
    assert _version(persistent_url) == str(schema.SCHEMA_VERSION) == "1"


def test_newer_schema_is_refused(persistent_url: str) -> None:
    connect(persistent_url).asset_store("a").set("k", 1)
    _set_version(persistent_url, 99)
    try:
        with pytest.raises(SchemaVersionError, match="version 99, newer than this release"):
            connect(persistent_url).asset_store("a").get("k")
    finally:
        _set_version(persistent_url, schema.SCHEMA_VERSION)


def test_older_schema_is_migrated(persistent_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    connect(persistent_url).asset_store("a").set("k", 1)
    _set_version(persistent_url, 0)
    ran: list[int] = []

    def migrate(conn: Connection) -> None:
        ran.append(1)

    monkeypatch.setitem(schema.MIGRATIONS, 0, migrate)
    assert connect(persistent_url).asset_store("a").get("k") == 1
    assert ran == [1]
    assert _version(persistent_url) == "1"

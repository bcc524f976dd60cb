"""Helpers of the incremental-load example's tests: databases, rows, and load processes.

How it works: :class:`Databases` names the three URLs of one test (source, target,
store), on SQLite files (:func:`sqlite_databases`) or on fresh databases of the session's
PostgreSQL server (:func:`postgres_databases`). The readers open an engine per call and
dispose of it, so they see exactly what is committed. :class:`LoadProcess` runs the
example's command line (with ``--progress``) in its own process group, collects its
output lines in a thread, and can be SIGKILLed by group.

What it does not do: judge anything (the tests do).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from examples.incremental_load.load import ASSET, KEY
from examples.incremental_load.tables import (
    add_orders,
    create_tables,
    engine_for,
    missing_tables,
    orders,
    orders_copy,
)
from store_client import connect
from tests.support.postgres import PostgresServer
from tests.support.processes import kill_group

__all__ = ["T0", "UTC", "Databases", "LoadProcess", "add", "minutes", "order", "postgres_databases",
           "seeded", "source_times", "sqlite_databases", "stored", "stored_cursor",
           "target_loads", "target_rows"]

UTC = timezone.utc
T0 = datetime(2021, 3, 1, 8, 0, tzinfo=UTC)  # far from the wall clock on purpose
_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Databases:
    """The three URLs of one test: the source, the target and the watermark's store."""

    source: str
    target: str
    store: str

    def cli_args(self) -> list[str]:
        return ["--source", self.source, "--target", self.target, "--store-url", self.store]


def sqlite_databases(directory: Path) -> Databases:
    """Three SQLite files in ``directory``."""
    return Databases(f"sqlite:///{directory / 'source.db'}",
                     f"sqlite:///{directory / 'target.db'}",
                     f"sqlite:///{directory / 'store.db'}")


def postgres_databases(server: PostgresServer) -> Databases:
    """Three new, empty databases on ``server``."""
    tag = uuid.uuid4().hex[:10]
    return Databases(server.create_database(f"src_{tag}"),
                     server.create_database(f"tgt_{tag}"),
                     server.create_database(f"store_{tag}"))


def order(order_id: int, at: datetime, amount: int | None = None) -> dict[str, Any]:
    """A source row."""
    return {"id": order_id, "updated_at": at, "amount": order_id * 100 if amount is None
            else amount}


def minutes(n: float) -> datetime:
    """``T0`` plus ``n`` minutes."""
    return T0 + timedelta(minutes=n)


def add(url: str, rows: Iterable[dict[str, Any]]) -> None:
    """Insert source rows (creating ``orders`` if needed) in one transaction."""
    engine = engine_for(url)
    try:
        create_tables(engine, orders)
        add_orders(engine, rows)
    finally:
        engine.dispose()


def seeded(directory: Path, rows: Iterable[dict[str, Any]]) -> tuple[str, str]:
    """A SQLite source in ``directory`` holding ``rows``, and the URL of its target."""
    source, target = f"sqlite:///{directory / 'source.db'}", f"sqlite:///{directory / 'target.db'}"
    add(source, rows)
    return source, target


def source_times(url: str) -> dict[int, datetime]:
    """Every source row's ``updated_at`` by id."""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return {r.id: r.updated_at for r in conn.execute(select(orders))}
    finally:
        engine.dispose()


def target_rows(url: str) -> dict[int, tuple[datetime, int]]:
    """Every target row's ``(updated_at, loads)`` by id; empty if there is no table."""
    engine = engine_for(url)
    try:
        if missing_tables(engine, orders_copy):
            return {}
        with engine.connect() as conn:
            return {r.id: (r.updated_at, r.loads) for r in conn.execute(select(orders_copy))}
    finally:
        engine.dispose()


def target_loads(url: str) -> dict[int, int]:
    """Every target row's ``loads`` by id, in id order; empty if there is no table."""
    return {i: loads for i, (_, loads) in sorted(target_rows(url).items())}


def stored(store_url: str) -> Any:
    """The stored watermark of ``orders`` (``{"type", "cursor", "boundary"}``) or None."""
    with connect(store_url) as client:
        return client.asset_store(ASSET).get(KEY)


def stored_cursor(store_url: str) -> datetime | None:
    """The stored cursor as an aware datetime, or None."""
    value = stored(store_url)
    if value is None:
        return None
    assert value["type"] == "datetime", value
    return datetime.fromisoformat(value["cursor"])


class LoadProcess:
    """The example's command line in its own process group; output lines kept in order."""

    def __init__(self, dbs: Databases, *args: str) -> None:
        argv = [sys.executable, "-m", "examples.incremental_load.load", *dbs.cli_args(),
                "--progress", *args]
        env = {**os.environ, "PYTHONPATH": str(_ROOT)}
        self.proc = subprocess.Popen(argv, cwd=_ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, prefix: str, timeout: float = 30) -> str:
        """The first output line starting with ``prefix``; fails if the run ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in list(self.lines) if line.startswith(prefix)]
            if found:
                return found[0]
            if self.proc.poll() is not None:
                self._reader.join(5)
                found = [line for line in self.lines if line.startswith(prefix)]
                if found:
                    return found[0]
                raise AssertionError(f"the load exited {self.proc.returncode} before "
                                     f"{prefix!r}:\n{self.output}")
            time.sleep(0.005)
        raise AssertionError(f"no {prefix!r} line after {timeout} s:\n{self.output}")

    def kill(self) -> int:
        """SIGKILL the process group, reap it; its exit status (-9 if the kill landed)."""
        kill_group(self.proc.pid)
        code = self.proc.wait(timeout=30)
        self._reader.join(5)
        return code

    def finish(self, timeout: float = 60) -> str:
        """Wait for a successful exit and return the summary (the last line)."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(5)
        assert code == 0, f"the load exited {code}:\n{self.output}"
        return self.lines[-1]

"""Engines for the SQL store: bounded waits, private files, fork safety, a file's identity.

How it works:

- SQLite: the path's ``~`` is expanded; a missing folder is created ``0700`` and a
  missing file ``0600`` (SQLite gives its ``-wal``/``-shm`` files the file's mode), or,
  with ``create=False``, a missing file is a :class:`ConfigurationError`. Every
  connection runs in WAL mode, ``synchronous=NORMAL``, with ``busy_timeout`` =
  ``lock_timeout``. :class:`FileIdentity` remembers which file (device, inode) the pool's
  connections opened, so the backend notices a store file deleted or replaced under it.
- PostgreSQL (psycopg 3): ``connect_timeout``, and server-side ``statement_timeout``,
  ``lock_timeout`` and ``idle_in_transaction_session_timeout`` on every session; TCP
  keepalives; and the process :data:`~store_client._sql_watchdog.WATCHDOG` armed while a
  connection is checked out, for a server that stops answering altogether.
- Fork safety: every engine is registered; in a forked child (LocalExecutor and Celery
  workers fork) each pool is dropped without closing the parent's connections
  (``dispose(close=False)``), so a child never talks over its parent's sockets.

What it does not do: tune pool sizes, or bound a statement on SQLite (its waits are
lock waits, bounded by ``busy_timeout``).
"""

from __future__ import annotations

import math
import os
import sqlite3
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

from store_client._config import StoreSettings, redact_url
from store_client._errors import ConfigurationError
from store_client._sql_watchdog import WATCHDOG

__all__ = ["FileIdentity", "create_store_engine", "open_direct_connection", "sqlite_path"]

#: A client-side deadline beyond the server's statement_timeout: the server's own
#: timeout fires first whenever the server still answers.
_DEADLINE_GRACE_S: Final = 2.0
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    WATCHDOG.after_fork_in_child()
    for engine in list(_ENGINES):
        engine.dispose(close=False)  # the parent's connections stay open, for the parent


os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass
class FileIdentity:
    """The (device, inode) of the SQLite file the pool's connections opened."""

    path: Path
    seen: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self._name = str(self.path)  # os.stat on a str skips Path's conversion per call
        self._checked = 0.0  # time.monotonic() of the last check that found no change

    def current(self) -> tuple[int, int] | None:
        """The file's identity now; None if it no longer exists."""
        try:
            stat = os.stat(self._name)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def changed(self, *, within: float = 0.0) -> bool:
        """True if the file the connections opened was deleted or replaced.

        ``within``: seconds for which an earlier check that found no change still
        answers (reads pass a fraction of a second; writes 0, always checking).
        """
        if self.seen is None:
            return False
        now = time.monotonic()
        if within and now - self._checked < within:
            return False
        if self.current() != self.seen:
            return True
        self._checked = now
        return False


def sqlite_path(url: URL) -> Path | None:
    """The file of a ``sqlite:`` URL; None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def create_private_file(path: Path, create: bool) -> None:
    """Make sure ``path`` exists: folder ``0700`` and file ``0600`` when we create them."""
    if path.exists():
        if not path.is_file():
            raise ConfigurationError(f"store file {str(path)!r} exists but is not a file")
        return
    if not create:
        raise ConfigurationError(
            f"no store at {str(path)!r}: the file does not exist (check the URL or "
            "RESUMABLE_STORE_URL; nothing was created)")
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the store file {str(path)!r}: {exc.strerror}") from None


def _sqlite_engine(parsed: URL, settings: StoreSettings,
                   identity: FileIdentity | None) -> Engine:
    if sqlite3.sqlite_version_info < (3, 35):
        raise ConfigurationError(
            f"the SQLite store needs SQLite 3.35 or later (RETURNING); this Python has "
            f"{sqlite3.sqlite_version}")
    busy_ms = int(settings.lock_timeout * 1000)
    if identity is None:
        engine = create_engine(parsed, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        create_private_file(identity.path, settings.create)
        engine = create_engine(parsed.set(database=str(identity.path)),
                               connect_args={"timeout": settings.lock_timeout})

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        if settings.create:  # WAL is a property of the file: set once by a writer
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()
        if identity is not None:
            identity.seen = identity.current()

    event.listen(engine, "connect", on_connect)
    return engine


def _postgres_engine(parsed: URL, settings: StoreSettings) -> Engine:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            "a postgresql:// store needs psycopg: pip install 'resumable[postgres]'"
        ) from exc
    ms = {name: int(getattr(settings, f"{name}_timeout") * 1000)
          for name in ("statement", "lock")}
    options = (f"-c statement_timeout={ms['statement']} -c lock_timeout={ms['lock']} "
               f"-c idle_in_transaction_session_timeout={ms['statement'] * 2}")
    given = parsed.query.get("options")
    if isinstance(given, str):
        options = f"{given} {options}"
    engine = create_engine(
        parsed.set(drivername="postgresql+psycopg"),
        connect_args={"connect_timeout": max(2, math.ceil(settings.connect_timeout)),
                      "options": options, "keepalives": 1, "keepalives_idle": 10,
                      "keepalives_interval": 5, "keepalives_count": 3})
    deadline = statement_deadline(settings)

    def on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        record.info["watchdog"] = WATCHDOG.arm(dbapi_conn.fileno(), deadline)

    def on_checkin(_dbapi_conn: Any, record: Any) -> None:
        ticket = record.info.pop("watchdog", None)
        if ticket is not None:
            WATCHDOG.disarm(ticket)

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "checkin", on_checkin)
    event.listen(engine, "invalidate", lambda c, record, e: on_checkin(c, record))
    return engine


def open_direct_connection(engine: Engine) -> tuple[Any, Callable[[], None]]:
    """A DBAPI connection of ``engine``'s, taken out of its pool, in autocommit mode.

    Opened by the pool, so the engine's connect-time settings apply; then detached, so
    the pool neither reuses nor counts it. The watchdog ticket the checkout armed is
    disarmed: the caller arms one per statement (:func:`statement_deadline`). Returns
    the connection and the function that closes it for good. An in-memory SQLite
    database has one connection, shared: it is returned as is (closing it is a no-op).
    """
    proxy = engine.raw_connection()
    connection: Any = proxy.dbapi_connection
    if isinstance(engine.pool, StaticPool):  # an in-memory database: its one connection
        proxy.close()
        connection.isolation_level = None
        return connection, lambda: None
    ticket = proxy.info.pop("watchdog", None)
    if ticket is not None:
        WATCHDOG.disarm(ticket)
    proxy.detach()
    if engine.dialect.name == "postgresql":
        connection.autocommit = True
    else:
        connection.isolation_level = None  # sqlite3: no implicit BEGIN
    return connection, proxy.close


def statement_deadline(settings: StoreSettings) -> float:
    """Seconds after which the watchdog breaks a PostgreSQL call that has not returned."""
    return settings.statement_timeout + _DEADLINE_GRACE_S


def create_store_engine(settings: StoreSettings) -> tuple[Engine, FileIdentity | None]:
    """An engine for ``settings.url`` (``sqlite:`` or ``postgresql:``), and for a SQLite
    file the identity tracker of that file."""
    try:
        parsed = make_url(settings.url)
        parsed.port  # noqa: B018
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise ConfigurationError(
            f"store URL {redact_url(settings.url)!r} is not a valid database URL") from exc
    backend = parsed.get_backend_name()
    identity: FileIdentity | None = None
    if backend in ("postgresql", "postgres"):
        engine = _postgres_engine(parsed, settings)
    elif backend == "sqlite":
        path = sqlite_path(parsed)
        identity = None if path is None else FileIdentity(path)
        engine = _sqlite_engine(parsed, settings, identity)
    else:
        raise ConfigurationError(
            f"store URL {redact_url(settings.url)!r}: unsupported database {backend!r}")
    _ENGINES.add(engine)
    return engine, identity

"""The PostgreSQL server the benchmarks run against, or why it does not run.

How it works: :func:`skip_reason` says why PostgreSQL is left out (``--skip-postgres``,
the test helper not importable, or no ``initdb``/``pg_ctl``/``postgres`` found by
``tests.support.postgres.find_pg_bindir``); :func:`fsync_server` starts a throwaway
server (``tests.support.postgres.PostgresServer``, fsync on, loopback TCP) and stops
it on exit; :func:`postgres_server` is both: the server, or None with the reason
printed and added to the script's notes.

What it does not do: tune the server, reuse one across scripts, or install PostgreSQL
(set ``RESUMABLE_PG_BINDIR`` or install the ``postgresql`` package).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.postgres import PostgresServer

__all__ = ["fsync_server", "postgres_server", "skip_reason"]


def skip_reason(skip: bool) -> str | None:
    """Why PostgreSQL will not run, as ``PostgreSQL skipped ...``; None when it can."""
    if skip:
        return "PostgreSQL skipped (--skip-postgres)"
    try:
        from tests.support.postgres import find_pg_bindir
    except ImportError as exc:
        return f"PostgreSQL skipped: cannot import the test server helper ({exc})"
    if find_pg_bindir() is None:
        return ("PostgreSQL skipped: binaries (initdb, pg_ctl, postgres) not found; "
                "set RESUMABLE_PG_BINDIR or install postgresql")
    return None


@contextlib.contextmanager
def fsync_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server with fsync on, stopped on exit (binaries must exist)."""
    from tests.support.postgres import PostgresServer, find_pg_bindir

    bindir = find_pg_bindir()
    if bindir is None:
        raise LookupError("PostgreSQL binaries (initdb, pg_ctl, postgres) not found")
    print(f"postgresql: starting a server from {bindir} (fsync on)", flush=True)
    with PostgresServer(fsync=True, bindir=bindir) as server:
        yield server


@contextlib.contextmanager
def postgres_server(skip: bool, notes: list[str]) -> Iterator[PostgresServer | None]:
    """:func:`fsync_server`, or None (the reason printed and added to ``notes``)."""
    reason = skip_reason(skip)
    if reason is not None:
        print(reason, flush=True)
        notes.append(reason)
        yield None
        return
    with fsync_server() as server:
        yield server

"""A job system shared by processes, that records every submission, for crash trials.

How it works: one SQLite file (stdlib ``sqlite3``, WAL, a busy timeout) with a ``jobs``
table. ``submit`` inserts a row and commits before returning, so a job exists as soon
as the call returns, whatever happens to the caller next. A job is ``RUNNING`` until
``submitted_at + duration`` (wall clock), then ``SUCCESS``; a row with ``fail`` set ends
``FAILED`` instead.

What it does not do: dedupe on the token. Like Spark standalone or EMR steps, a second
``submit`` with the same token makes a second job; only a ``find(scope, token)`` lookup
(what ``find_job`` uses) can stop a duplicate.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from resumable import JobNotFoundError

__all__ = ["CrashJobs"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    scope TEXT NOT NULL,
    token TEXT,
    submitted_at REAL NOT NULL,
    duration REAL NOT NULL,
    fail INTEGER NOT NULL DEFAULT 0
)
"""
_BUSY_TIMEOUT_MS = 30_000


class CrashJobs:
    """The jobs recorded in the SQLite file at ``path`` (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None)  # autocommit: one statement each
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SCHEMA)
            self._conn = conn
        return self._conn

    def close(self) -> None:
        """Close the connection (it reopens on the next call)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def submit(self, scope: str, token: str | None, duration: float, *,
               fail: bool = False) -> int:
        """Record a new job (always a new one: no token dedupe) and return its ID."""
        cursor = self._db().execute(
            "INSERT INTO jobs (scope, token, submitted_at, duration, fail) VALUES (?, ?, ?, ?, ?)",
            (scope, token, time.time(), duration, int(fail)))
        job_id = cursor.lastrowid
        assert job_id is not None
        return job_id

    def status(self, job_id: int) -> str:
        """``RUNNING`` until the job's duration has passed, then ``SUCCESS`` (or ``FAILED``)."""
        row = self._db().execute("SELECT submitted_at, duration, fail FROM jobs WHERE id = ?",
                                 (job_id,)).fetchone()
        if row is None:
            raise JobNotFoundError(f"no job {job_id}")
        submitted_at, duration, fail = row
        if time.time() < submitted_at + duration:
            return "RUNNING"
        return "FAILED" if fail else "SUCCESS"

    def find(self, scope: str, token: str) -> int | None:
        """The first job submitted in ``scope`` with ``token``, or None."""
        row = self._db().execute(
            "SELECT id FROM jobs WHERE scope = ? AND token = ? ORDER BY id LIMIT 1",
            (scope, token)).fetchone()
        return None if row is None else int(row[0])

    def count(self, scope: str) -> int:
        """How many jobs were submitted in ``scope``."""
        row = self._db().execute("SELECT COUNT(*) FROM jobs WHERE scope = ?",
                                 (scope,)).fetchone()
        return int(row[0])

    def ids(self, scope: str) -> list[int]:
        """The IDs of the jobs submitted in ``scope``, oldest first."""
        rows = self._db().execute("SELECT id FROM jobs WHERE scope = ? ORDER BY id",
                                  (scope,)).fetchall()
        return [int(row[0]) for row in rows]

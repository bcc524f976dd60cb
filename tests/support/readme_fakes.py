"""Fakes for the outside services the README's snippets name (``tests/test_readme.py``).

Each stands for something a user brings: a job system's client (``api.submit``,
``api.status``, ``api.get``), a paginated source (``fetch``/``load``), an orders API
(``api.fetch(since=..., until=...)``), a target database (``db.upsert``), a SQL source
(``conn``/``orders``), a trigger class. They record what the snippet did to them, so the
test can check the outcome the README implies. None of them stands for a name of
``resumable`` or ``store_client``: the snippets import those.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, TypeDecorator, create_engine
from sqlalchemy.engine import Connection

__all__ = ["JobApi", "MyTrigger", "OrdersApi", "PagedSource", "Recorder", "TargetDb",
           "orders_table", "serve_job_api"]


class JobApi:
    """A job system: ``submit`` returns ``run-1``, ``run-2``...; statuses advance per lookup.

    ``states`` is the sequence each new run goes through, one step per status lookup,
    the last one sticky. ``pin(run_id, state)`` fixes a run's state; ``forget(run_id)``
    makes it unknown (``get`` raises :attr:`NotFound`, ``status`` raises ``KeyError``).
    """

    class NotFound(Exception):
        """The system does not know the run."""

    def __init__(self, states: tuple[str, ...] = ("PENDING", "RUNNING", "SUCCESS")) -> None:
        self.states = states
        self.submissions: list[dict[str, Any]] = []
        self._step: dict[str, int] = {}
        self._pinned: dict[str, str] = {}
        self.lookups = 0

    def submit(self, *args: Any, **kwargs: Any) -> str:
        run_id = f"run-{len(self.submissions) + 1}"
        self.submissions.append({"args": args, **kwargs, "run_id": run_id})
        self._step[run_id] = 0
        return run_id

    def _state(self, run_id: str, *, advance: bool) -> str:
        if run_id not in self._step:
            raise self.NotFound(f"no run {run_id!r}")
        if run_id in self._pinned:
            return self._pinned[run_id]
        step = self._step[run_id]
        if advance:
            self.lookups += 1
            self._step[run_id] = step + 1
        return self.states[min(step, len(self.states) - 1)]

    def status(self, run_id: str) -> str:
        try:
            return self._state(run_id, advance=True)
        except self.NotFound as exc:
            raise KeyError(run_id) from exc

    def get(self, run_id: str) -> SimpleNamespace:
        return SimpleNamespace(run_id=run_id, state=self._state(run_id, advance=True))

    def peek(self, run_id: str) -> str:
        return self._state(run_id, advance=False)

    def pin(self, run_id: str, state: str) -> None:
        self._pinned[run_id] = state

    def forget(self, run_id: str) -> None:
        self._step.pop(run_id, None)
        self._pinned.pop(run_id, None)


@contextlib.contextmanager
def serve_job_api(api: JobApi) -> Iterator[str]:
    """``GET /runs/{run_id}`` -> ``{"state": ...}`` (a status lookup, which advances the
    run) on loopback; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            run_id = self.path.rsplit("/", 1)[-1]
            try:
                body, code = {"state": api.get(run_id).state}, 200  # advances
            except JobApi.NotFound:
                body, code = {"error": "not found"}, 404
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Page:
    number: int
    items: list[int]
    next: str | None


class PagedSource:
    """Pages 1..``pages``: ``fetch(n)`` by number, or ``fetch(token)`` by next-page token
    (``None`` is the first page). ``fail_at`` makes one fetch of that page raise (a crash
    mid-ingest) once."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.fail_at: int | None = None
        self.fetched: list[int] = []

    def fetch(self, where: int | str | None) -> Page:
        number = 1 if where is None else int(str(where).removeprefix("p"))
        if number == self.fail_at:
            self.fail_at = None
            raise ConnectionError(f"page {number}: connection reset")
        self.fetched.append(number)
        if number > self.pages:
            return Page(number, [], None)
        return Page(number, [number], f"p{number + 1}" if number < self.pages else None)

    __call__ = fetch  # the snippet's `fetch(...)`


class Recorder:
    """A callable that records its arguments (``load``, ``upsert``...)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args[0] if len(args) == 1 else args)
        return args[0] if args else None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


class OrdersApi:
    """An HTTP API of orders: ``fetch(since=ISO, until=ISO)`` returns the rows with
    ``since <= updated_at < until`` (either edge optional), as dicts; calls are recorded."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[dict[str, Any]] = []

    def fetch(self, **params: Any) -> list[dict[str, Any]]:
        assert set(params) <= {"since", "until"}, params
        self.calls.append(params)
        since = _utc(params["since"]) if "since" in params else None
        until = _utc(params["until"]) if "until" in params else None
        return [dict(row) for row in self.rows
                if (since is None or row["updated_at"] >= since)
                and (until is None or row["updated_at"] < until)]


@dataclass
class TargetDb:
    """A target table: ``upsert(rows)`` keeps the last version of each ``id``."""

    batches: list[list[Any]] = field(default_factory=list)
    rows: dict[Any, Any] = field(default_factory=dict)

    def upsert(self, rows: list[Any]) -> None:
        self.batches.append(list(rows))
        for row in rows:
            key = row["id"] if isinstance(row, dict) else row.id
            self.rows[key] = row


class _UtcDateTime(TypeDecorator[datetime]):
    """A tz-aware timestamp on SQLite (ISO text in UTC), as PostgreSQL's timestamptz."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        return None if value is None else value.astimezone(timezone.utc).isoformat()

    def process_result_value(self, value: str | None, dialect: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


@contextlib.contextmanager
def orders_table() -> Iterator[tuple[Connection, Table]]:
    """An in-memory SQLite ``orders`` table (``id``, ``updated_at``) and a connection."""
    metadata = MetaData()
    orders = Table("orders", metadata, Column("id", Integer, primary_key=True),
                   Column("updated_at", _UtcDateTime(), nullable=False))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    try:
        with engine.connect() as conn:
            yield conn, orders
    finally:
        engine.dispose()


@dataclass(frozen=True)
class MyTrigger:
    """The user's own trigger of a hand-written deferrable operator: it watches ``run_id``."""

    run_id: str

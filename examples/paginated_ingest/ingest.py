"""Paginated REST ingest that resumes after the last committed page: ``@checkpoint``.

How it works: :func:`ingest_by_page` and :func:`ingest_by_token` build the two
``@checkpoint``-decorated ingest functions (one per ``every``, cached). The first walks
``cp.resume(range(1, total_pages + 1))``, so a retry starts after the last committed page
number; the second follows the server's opaque next-page tokens, committing each next
token (``cp.position`` is where a retry starts; None means the first page). Each page is
written to the target database in ONE transaction (:meth:`Target.load_page`): its items
are upserted (a redone page does not duplicate them) and one row is appended to
``page_loads`` (so redone pages can be counted). A page is committed to the checkpoint
only after that transaction and the ``on_page`` callback returned, so a crash loses no
page; it redoes at most ``every`` pages (the pending commits plus the one in flight).

HTTP is httpx (:class:`PageApi`) with a timeout; connection errors, timeouts, 429 and
5xx are retried with tenacity (``attempts`` tries, full-jitter exponential backoff); any
other 4xx raises :class:`PageRequestError` at once. A committed token the server
refuses, like a committed page number the server no longer has, raises
``CheckpointMismatchError``.

CLI: ``python -m examples.paginated_ingest.ingest --server URL --target PATH --store-url
URL --mode pages|tokens --every N [--run-id R]`` keeps its checkpoint in
``TaskScope("paginated_ingest", R, "ingest")``, prints ``loaded page N`` after each page
and a summary at the end (exit 0). A user mistake prints one line and exits 2; a failure
of the server or the store prints one line and exits 1.

What it does not do: fetch pages concurrently, or detect that already-loaded data
changed upstream (a redone page is simply written again).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
from pydantic import BaseModel, ValidationError
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from resumable import Checkpoint, CheckpointMismatchError, checkpoint
from store_client import StoreError, TaskScope, connect

__all__ = ["MODES", "IngestSummary", "Item", "PageApi", "PageRequestError", "Target",
           "ingest_by_page", "ingest_by_token", "main", "run_ingest"]

MODES = ("pages", "tokens")
OnPage = Callable[[int], None]


class Item(BaseModel):
    """One item of the API."""

    id: int
    page: int
    payload: str


class _PageReply(BaseModel):
    page: int
    total_pages: int
    items: list[Item]


class _StreamReply(BaseModel):
    items: list[Item]
    next: str | None


class _CountReply(BaseModel):
    total_pages: int


class PageRequestError(Exception):
    """The server refused a request (a 4xx other than 429): retrying would not help."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"the server answered {status} {code}: {message}")
        self.status, self.code = status, code


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and (
        exc.response.status_code == 429 or exc.response.status_code >= 500)


class PageApi:
    """httpx client of the example server; transient failures retried with tenacity."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, attempts: int = 5) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self._retrying = Retrying(stop=stop_after_attempt(attempts),
                                  wait=wait_random_exponential(multiplier=0.05, max=1.0),
                                  retry=retry_if_exception(_transient), reraise=True)

    def _get_once(self, path: str, params: dict[str, Any]) -> Any:
        response = self._client.get(path, params=params)
        if response.status_code == 429 or response.status_code >= 500:
            response.raise_for_status()  # HTTPStatusError: retried
        if response.is_error:
            try:
                body = response.json()
                code, message = str(body["error"]), str(body["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "error", response.text[:200]
            raise PageRequestError(response.status_code, code, message)
        return response.json()

    def _get(self, path: str, **params: Any) -> Any:
        return self._retrying.copy()(self._get_once, path, params)

    def total_pages(self) -> int:
        """How many pages the server has (``GET /items/count``; serves no page)."""
        return _CountReply.model_validate(self._get("/items/count")).total_pages

    def page(self, number: int) -> list[Item]:
        """The items of page ``number`` (``GET /items?page=N``)."""
        reply = _PageReply.model_validate(self._get("/items", page=number))
        if reply.page != number:
            raise PageRequestError(200, "wrong_page", f"asked page {number}, got {reply.page}")
        return reply.items

    def stream(self, token: str | None) -> tuple[list[Item], str | None]:
        """The page a token points at (None: the first) and the next token (None: last)."""
        params = {} if token is None else {"token": token}
        reply = _StreamReply.model_validate(self._get("/items/stream", **params))
        return reply.items, reply.next

    def close(self) -> None:
        self._client.close()


_metadata = MetaData()
items_table = Table("items", _metadata,
                    Column("id", Integer, primary_key=True),
                    Column("page", Integer, nullable=False),
                    Column("payload", String, nullable=False))
page_loads = Table("page_loads", _metadata,
                   Column("load_id", Integer, primary_key=True, autoincrement=True),
                   Column("page", Integer, nullable=False),
                   Column("items", Integer, nullable=False))


class Target:
    """The target database: ``items`` (upserted) and ``page_loads`` (append-only).

    ``url`` is a SQLAlchemy URL, or a path taken as a SQLite file. Tables are created
    on first use. SQLite and PostgreSQL only (the upsert is dialect-specific).
    """

    def __init__(self, url: str | Path) -> None:
        text = str(url)
        self.engine = create_engine(text if "://" in text else f"sqlite:///{text}")
        _metadata.create_all(self.engine)

    def load_page(self, page: int, items: Sequence[Item]) -> None:
        """Upsert ``items`` and record one load of ``page``, in one transaction."""
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        rows = [item.model_dump() for item in items]
        with self.engine.begin() as conn:
            if rows:
                insert = dialect.insert(items_table).values(rows)
                conn.execute(insert.on_conflict_do_update(
                    index_elements=["id"],
                    set_={"page": insert.excluded.page, "payload": insert.excluded.payload}))
            conn.execute(page_loads.insert().values(page=page, items=len(rows)))

    def item_ids(self) -> list[int]:
        """Every item ID in the target, ascending."""
        with self.engine.connect() as conn:
            return list(conn.scalars(select(items_table.c.id).order_by(items_table.c.id)))

    def loads_per_page(self) -> dict[int, int]:
        """How many times each page was loaded (redone pages count more than once)."""
        query = select(page_loads.c.page, func.count()).group_by(page_loads.c.page)
        with self.engine.connect() as conn:
            return {int(page): int(n) for page, n in conn.execute(query)}

    def close(self) -> None:
        self.engine.dispose()


@dataclass
class IngestSummary:
    """What one call loaded: ``resumed_from`` is the checkpoint it found (None: fresh)."""

    mode: str
    resumed_from: Any = None
    pages: list[int] = field(default_factory=list)
    items: int = 0

    def loaded(self, page: int, items: int, on_page: OnPage | None) -> None:
        self.pages.append(page)
        self.items += items
        if on_page is not None:
            on_page(page)


IngestFn = Callable[..., IngestSummary]


@functools.cache
def ingest_by_page(every: int = 1) -> IngestFn:
    """The page-number ingest ``(api, target, on_page=None, *, task_store)``.

    Its checkpoint (key ``"page"``) is written every ``every`` pages.
    """

    @checkpoint(key="page", every=every)
    def ingest_pages(cp: Checkpoint, api: PageApi, target: Target,
                     on_page: OnPage | None = None) -> IngestSummary:
        summary = IngestSummary("pages", resumed_from=cp.position)
        for page in cp.resume(range(1, api.total_pages() + 1)):
            items = api.page(page)
            target.load_page(page, items)
            summary.loaded(page, len(items), on_page)
        return summary

    return ingest_pages


@functools.cache
def ingest_by_token(every: int = 1) -> IngestFn:
    """The next-page-token ingest ``(api, target, on_page=None, *, task_store)``.

    Its checkpoint (key ``"next_token"``) holds the token of the next page to fetch and
    is written every ``every`` pages.
    """

    @checkpoint(key="next_token", every=every)
    def ingest_tokens(cp: Checkpoint, api: PageApi, target: Target,
                      on_page: OnPage | None = None) -> IngestSummary:
        token: str | None = cp.position
        summary = IngestSummary("tokens", resumed_from=token)
        try:
            items, next_token = api.stream(token)
        except PageRequestError as exc:
            if token is None or exc.code != "bad_token":
                raise
            raise CheckpointMismatchError(
                f"the server refused the committed page token {token!r:.60} ({exc}); the "
                "data set changed between tries (clear the checkpoint to start over)",
                position=token) from exc
        while items:
            page = items[0].page
            target.load_page(page, items)
            summary.loaded(page, len(items), on_page)
            if next_token is None:
                break
            cp.commit(next_token)
            items, next_token = api.stream(next_token)
        return summary

    return ingest_tokens


def run_ingest(server: str, target: str | Path, store_url: str | None, *, mode: str,
               every: int = 1, run_id: str = "manual",
               on_page: OnPage | None = None, attempts: int = 5) -> IngestSummary:
    """Ingest every page of ``server`` into ``target``, checkpointed in the task store
    ``TaskScope("paginated_ingest", run_id, "ingest")`` of ``connect(store_url)``."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    ingest = ingest_by_page(every) if mode == "pages" else ingest_by_token(every)
    with connect(store_url) as client:
        task_store = client.task_store(TaskScope("paginated_ingest", run_id, "ingest"))
        api, db = PageApi(server, attempts=attempts), Target(target)
        try:
            return ingest(api, db, on_page, task_store=task_store)
        finally:
            api.close()
            db.close()


class _UsageError(Exception):
    """A mistake on the command line: exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = _Parser(prog="python -m examples.paginated_ingest.ingest",
                     description="Ingest a paginated REST API, resuming after a crash.")
    parser.add_argument("--server", required=True, help="base URL of the API")
    parser.add_argument("--target", required=True, type=Path, help="target SQLite file")
    parser.add_argument("--store-url", help="task store URL (default: RESUMABLE_STORE_URL)")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--every", type=int, default=1, help="checkpoint every N pages")
    parser.add_argument("--run-id", default="manual", help="run ID of the task scope")
    args = parser.parse_args(argv)
    if args.every < 1:
        parser.error(f"--every must be >= 1, got {args.every}")
    try:
        url = httpx.URL(args.server)
    except (httpx.InvalidURL, TypeError) as exc:
        parser.error(f"--server {args.server!r} is not a URL: {exc}")
    if url.scheme not in ("http", "https") or not url.host:
        parser.error(f"--server must be an http(s) URL with a host, got {args.server!r}")
    return args


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [repr(exc)])[0]


def _loaded(page: int) -> None:
    print(f"loaded page {page}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 done, 1 failure, 2 user mistake)."""
    try:
        args = _parse(argv)
        connect(args.store_url).close()  # a bad store URL is a user mistake: fail early
    except (_UsageError, ValueError) as exc:  # ConfigurationError is a ValueError
        print(f"error: {_first_line(exc)}", file=sys.stderr)
        return 2
    try:
        summary = run_ingest(args.server, args.target, args.store_url, mode=args.mode,
                             every=args.every, run_id=args.run_id, on_page=_loaded)
    except (PageRequestError, httpx.HTTPError, ValidationError, StoreError,
            CheckpointMismatchError) as exc:
        print(f"error: {type(exc).__name__}: {_first_line(exc)}", file=sys.stderr)
        return 1
    start = "from the first page" if summary.resumed_from is None else (
        f"resuming after committed position {summary.resumed_from!r:.40}")
    print(f"done: mode={summary.mode} every={args.every}: {len(summary.pages)} pages, "
          f"{summary.items} items loaded this run, {start}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

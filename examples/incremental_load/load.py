"""An incremental SQL-to-SQL load of ``orders`` into ``orders_copy`` with ``@watermark``.

Usage::

    python -m examples.incremental_load.load --source URL --target URL --store-url URL
        [--lag SECONDS] [--create-target] [--pause-after-select SECONDS]
        [--chunk-size N] [--pause-per-chunk SECONDS] [--pause-after-commit SECONDS]
        [--progress]

How it works: :func:`load_orders` is decorated with ``@watermark("orders",
cursor="updated_at", primary_key="id", initial=INITIAL)``. It selects the source rows
in the window (``window.where(orders.c.updated_at)``: ``updated_at >= window.start``)
ordered by ``updated_at`` (a closed start: rows
sharing the stored cursor's timestamp are read again and ``window.filter`` drops those
whose id was loaded at that cursor), then upserts the kept rows into the target in ONE
transaction (``loads = loads + 1`` on conflict) and returns how many it wrote. The
cursor is stored by the decorator only after the function returned, so after a crash
the stored cursor never passes a row that is not committed in the target; a crash
between the target's commit and the cursor write makes the next run write those rows
again, which the upsert absorbs (and ``loads`` shows). The command prints one summary
line; a user mistake (bad URL, missing table, bad option) prints one line and exits 2.

The pacing options exist for tests: ``--pause-after-select`` sleeps between the select
and the write (to insert rows during a run, or to land a kill there), ``--chunk-size``
and ``--pause-per-chunk`` spread the write over several statements of the one
transaction, ``--pause-after-commit`` sleeps between the target's commit and the return
(the cursor write), and ``--progress`` prints ``progress: ...`` lines as the run goes.

What it does not do: dedupe rows re-read because of ``--lag`` (the upsert absorbs them,
``loads`` counts them), catch rows committed later with an ``updated_at`` older than the
cursor minus the lag (no watermark can), or create the source table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, NoReturn

from sqlalchemy import Engine, select

from examples.incremental_load.tables import (
    UserError,
    create_tables,
    engine_for,
    missing_tables,
    orders,
    orders_copy,
    upsert,
)
from resumable import Window, watermark
from store_client import ConfigurationError, connect

__all__ = ["ASSET", "INITIAL", "KEY", "LoadResult", "Pacing", "build_loader", "load_orders",
           "main", "run_load"]

ASSET = "orders"
KEY = "watermark"
INITIAL = datetime(2020, 1, 1, tzinfo=timezone.utc)

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    """The default progress reporter: says nothing."""


@dataclass(frozen=True)
class Pacing:
    """How slowly a run goes (for tests): pauses, and rows per upsert statement."""

    pause_after_select: float = 0.0
    chunk_size: int = 500
    pause_per_chunk: float = 0.0
    pause_after_commit: float = 0.0

    def __post_init__(self) -> None:
        if min(self.pause_after_select, self.pause_per_chunk, self.pause_after_commit) < 0:
            raise UserError("pauses must not be negative")
        if self.chunk_size < 1:
            raise UserError(f"chunk size must be at least 1, got {self.chunk_size}")


def build_loader(lag: timedelta | None = None) -> Callable[..., int]:
    """The watermarked load function; ``lag`` re-reads that much before the cursor."""

    @watermark(ASSET, cursor="updated_at", primary_key="id", initial=INITIAL, lag=lag,
               key=KEY)
    def load_orders(window: Window, source: Engine, target: Engine,
                    pacing: Pacing = Pacing(), progress: Progress = _quiet) -> int:
        """Copy the orders changed since the window's start; return how many were written."""
        query = select(orders).where(window.where(orders.c.updated_at))
        with source.connect() as conn:
            rows = conn.execute(query.order_by(orders.c.updated_at, orders.c.id)).mappings().all()
        progress(f"selected {len(rows)} rows since {window.start.isoformat()}")
        time.sleep(pacing.pause_after_select)
        kept = window.filter(rows)
        progress(f"kept {len(kept)} rows")
        size = pacing.chunk_size
        with target.begin() as conn:
            for index in range(0, len(kept), size):
                upsert(conn, kept[index:index + size])
                progress(f"upserted {min(index + size, len(kept))} of {len(kept)}")
                time.sleep(pacing.pause_per_chunk)
        progress(f"committed {len(kept)} rows")
        time.sleep(pacing.pause_after_commit)
        return len(kept)

    return load_orders


load_orders = build_loader()


@dataclass(frozen=True)
class LoadResult:
    """What one run did: rows written, and the stored cursor before and after."""

    loaded: int
    cursor_before: str | None
    cursor_after: str | None

    def summary(self) -> str:
        moved = "moved" if self.cursor_after != self.cursor_before else "unchanged"
        return (f"loaded {self.loaded} rows; cursor {self.cursor_before or 'none'} -> "
                f"{self.cursor_after or 'none'} ({moved})")


def _cursor(stored: Any) -> str | None:
    return stored.get("cursor") if isinstance(stored, dict) else None


def run_load(source_url: str, target_url: str, store_url: str, *,
             pacing: Pacing = Pacing(), lag: timedelta | None = None,
             create_target: bool = False, progress: Progress = _quiet) -> LoadResult:
    """One run of the load between two databases, its watermark in ``store_url``."""
    loader = load_orders if lag is None else build_loader(lag)
    source, target = engine_for(source_url), engine_for(target_url)
    try:
        if missing_tables(source, orders):
            raise UserError(f"the source {source.url!r} has no table {orders.name!r}")
        if create_target:
            create_tables(target, orders_copy)
        elif missing_tables(target, orders_copy):
            raise UserError(f"the target {target.url!r} has no table {orders_copy.name!r} "
                            "(pass --create-target)")
        try:
            client = connect(store_url)
        except ConfigurationError as exc:
            raise UserError(str(exc)) from None
        with client:
            store = client.asset_store(ASSET)
            before = _cursor(store.get(KEY))
            progress("started")
            loaded = loader(source, target, pacing, progress, asset_store=store)
            after = _cursor(store.get(KEY))
        progress(f"stored cursor {after}")
        return LoadResult(loaded, before, after)
    finally:
        source.dispose()
        target.dispose()


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake prints one line (and exits 2, as argparse does)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = _Parser(prog="python -m examples.incremental_load.load",
                     description="Copy the orders changed since the last run.")
    parser.add_argument("--source", required=True, help="SQLAlchemy URL with `orders`")
    parser.add_argument("--target", required=True, help="SQLAlchemy URL with `orders_copy`")
    parser.add_argument("--store-url", required=True, help="store_client URL (the watermark)")
    parser.add_argument("--lag", type=_seconds, default=None,
                        help="re-read this many seconds before the stored cursor")
    parser.add_argument("--create-target", action="store_true",
                        help="create `orders_copy` if it is missing")
    parser.add_argument("--pause-after-select", type=_seconds, default=0.0)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--pause-per-chunk", type=_seconds, default=0.0)
    parser.add_argument("--pause-after-commit", type=_seconds, default=0.0)
    parser.add_argument("--progress", action="store_true", help="print progress lines")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        if args.progress:
            print(f"progress: {message}", flush=True)

    lag = None if args.lag is None else timedelta(seconds=args.lag)
    try:
        pacing = Pacing(args.pause_after_select, args.chunk_size, args.pause_per_chunk,
                        args.pause_after_commit)
        result = run_load(args.source, args.target, args.store_url, pacing=pacing, lag=lag,
                          create_target=args.create_target, progress=say)
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(result.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

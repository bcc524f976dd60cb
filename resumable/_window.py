"""``Window``: one run's view of an incremental load's cursor, and how the cursor moves.

How it works: a :class:`~resumable._watermark_spec.WatermarkSpec` (frozen, validated
once) says which field is the cursor and how it moves. Opening a window reads the stored
watermark (``{"type", "cursor", "boundary"...}`` under ``spec.key`` in the asset store):
``start`` is the stored cursor moved back by ``lag`` (never before ``initial``), or
``initial`` on the first run; with ``allow_external_schedulers`` inside an Airflow run
that has a data interval, the window is that interval (:mod:`resumable._data_interval`).
``filter(rows)`` keeps the rows inside the window (closed start and open end by
default, as dlt; ``range_start``/``range_end`` change that), drops the rows at the stored
cursor that were loaded before (:mod:`resumable._boundary`: any number of them, kept in
bounded state), and records the furthest cursor kept with the identities of the rows at
it; ``observe(rows)`` only records. With ``row_order`` it stops reading (and sets
``exhausted``) at the first row past the window in the direction the rows come, so a lazy
producer stops paging, and it refuses rows that break that order. ``commit()`` merges
what was recorded into the stored watermark (:func:`merged`, pure). On our own stores it
merges under the row's lock (``AssetStore.update``), so concurrent commits queue and all
land; on Airflow's asset store it writes with ``compare_and_set``, re-reading and merging
again when another run wrote first. Either way the cursor never moves backwards and two
concurrent runs end at the further value. Nothing is
written when nothing was observed, for a bounded backfill (``end=``) or an Airflow
backfill run.

Rows may have any common shape and fields may be dotted paths (:mod:`resumable._rows`).
Plain-dict rows with an ``int``, ``str``, ``date`` or ``datetime`` cursor take a fast path;
the cursor's type is checked once per type, not per row.

What it does not do: dedupe rows re-read because of ``lag`` below the stored cursor (load
them with an upsert); rows at the stored cursor are then dropped only when unchanged. It
never stores the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from types import TracebackType
from typing import Any

from resumable._boundary import BOUNDARY_LIMIT, Boundary, BoundaryBuilder
from resumable._cursor import check_cursor, coerce_to_cursor
from resumable._data_interval import DataInterval, data_interval
from resumable._errors import (
    CursorError,
    CursorOrderError,
    MissingCursorError,
    WatermarkConflictError,
)
from resumable._rows import MISSING, is_row
from resumable._watermark_spec import WatermarkSpec
from resumable._watermark_state import State, merged
from resumable._window_queries import Format, query_params, where_clause
from store_client import AssetStore, ValueTooLargeError

__all__ = ["State", "WatermarkSpec", "Window", "is_rows", "merged", "open_window", "window_for"]

_CAS_ATTEMPTS = 20
_FLUSH_ROWS = 2 * BOUNDARY_LIMIT  # rows at the max held before their identities are taken
_FAST_TYPES = frozenset({int, str, date, datetime})  # checked once per type, not per row


class Window:
    """One run's window of an incremental load: ``start``, ``end``, ``filter``, ``observe``.

    Open it with ``@watermark`` or :func:`open_window`. ``stored`` is the watermark read
    when it opened (None on the first run, for backfills and data intervals);
    ``max_cursor`` the furthest cursor recorded so far (the largest, for ``max``);
    ``exhausted`` whether ``filter`` met a row past the window with ``row_order`` set.
    """

    def __init__(self, spec: WatermarkSpec, store: Any | None, stored_raw: object = None,
                 interval: DataInterval | None = None) -> None:
        self.spec = spec
        self._store = store
        self._stored_raw = stored_raw
        self._writes = store is not None and spec.end is None and \
            not (interval is not None and interval.backfill)
        self._expected_known = interval is None  # else read the stored value at commit
        self.stored = None if stored_raw is None else State.decode(stored_raw)
        if self.stored is not None and spec.initial is not None:
            check_cursor(self.stored.cursor, f"the stored watermark {spec.key!r}",
                         like=spec.initial)
        self.start: Any = spec.initial
        self.end: Any = spec.end
        if interval is not None:
            self.start = coerce_to_cursor(interval.start, spec.initial, "data_interval_start")
            self.end = coerce_to_cursor(interval.end, spec.initial, "data_interval_end")
            self.stored = None
        elif self.stored is not None:
            self.start = spec.start_after(self.stored.cursor)
        self.max_cursor: Any = None
        self.exhausted = False
        self.used = False
        self._direction = spec.direction
        self._key = self._direction.key
        self._value_type: type | None = None
        self._previous: Any = MISSING  # the last value read, as a sort key (row_order)
        self._mx_key: Any = None  # max_cursor as a sort key
        self._at_max: list[Any] = []
        self._builder = BoundaryBuilder()

    def __repr__(self) -> str:
        return (f"Window(start={self.start!r}, end={self.end!r}, "
                f"max_cursor={self.max_cursor!r})")

    # -- reading rows ---------------------------------------------------------------

    def _value(self, row: object, furthest: Any) -> Any:
        """The row's checked cursor (slow path), or MISSING under a lenient policy.

        ``furthest`` is the furthest cursor recorded so far in the running scan.
        """
        value = self.spec.cursor_of(row)
        if value is MISSING:
            if self.spec.on_missing_cursor == "raise":
                raise MissingCursorError(f"a row has no cursor {self.spec.cursor!r} "
                                         f"(on_missing_cursor='raise'): {row!r:.120}")
            return MISSING
        what = f"the cursor of row {row!r:.80}"
        for like in (self.start, furthest, self.end):
            if like is not None:
                check_cursor(value, what, like=like)
        check_cursor(value, what)
        if type(value) in _FAST_TYPES:
            # Later values of this type skip the checks: a naive datetime among them
            # fails to compare with an aware one, and _scan turns that into the error.
            self._value_type = type(value)
        return value

    def _out_of_order(self, value: Any, previous: Any) -> None:
        raise CursorOrderError(
            f"row_order={self.spec.row_order!r}, but a row's cursor {value!r:.60} came "
            f"after {previous!r:.60}: rows past it may be skipped; fix the order "
            "or leave row_order unset")

    def _scan(self, rows: Iterable[Any], keep: bool) -> list[Any]:
        """Read ``rows`` once: record the furthest cursor; with ``keep``, filter too.

        The hot loop: values are compared through the direction's sort key (none for
        ``max``), so the window's edges and the furthest value are plain ``<`` tests.
        """
        spec, key = self.spec, self._key
        name = spec.cursor
        dict_rows = dict if isinstance(name, str) else None  # the fast path's row type
        lo, hi = self._keyed(self.start), self._keyed(self.end)
        lo_closed, hi_open = spec.range_start == "closed", spec.range_end == "open"
        stored = self.stored
        known = stored.boundary.ids if stored is not None and spec.dedups else frozenset()
        at = self._keyed(stored.cursor) if stored is not None and known else None
        # Rows up to ``low`` need the start and boundary checks; the rest skip both.
        low = at if at is not None and (lo is None or at >= lo) else lo
        ordered = spec.row_order is not None
        forward = (spec.row_order == "asc") == (spec.last_value_func is not min)
        stop_start, stop_end = keep and ordered and not forward, keep and ordered and forward
        include = keep and spec.on_missing_cursor == "include"
        prev, mx, vt = self._previous, self._mx_key, self._value_type
        first: Any = MISSING  # the row that set a new furthest value in this scan
        ties: list[Any] | None = None  # the rows after it at that same value
        kept: list[Any] = []
        append = kept.append
        value: Any = None
        try:
            for row in rows:
                if type(row) is dict_rows:
                    try:
                        value = row[name]
                    except KeyError:  # perhaps a dotted path: the slow path reads it
                        value = MISSING
                else:
                    value = MISSING
                if type(value) is not vt:
                    value = self._value(row, self._unkeyed(mx))
                    if value is MISSING:
                        if include:
                            append(row)
                        continue
                    vt = self._value_type
                k = value if key is None else key(value)
                if ordered:
                    if prev is not MISSING and (k < prev if forward else k > prev):
                        self._out_of_order(value, self._unkeyed(prev))
                    prev = k
                if keep:
                    if low is not None and k <= low:
                        if lo is not None and (k < lo if lo_closed else k <= lo):
                            if stop_start:
                                self.exhausted = True
                                break
                            continue
                        if k == at and spec.identity_of(row) in known:
                            continue
                    if hi is not None and (k >= hi if hi_open else k > hi):
                        if stop_end:
                            self.exhausted = True
                            break
                        continue
                    append(row)
                if mx is None or k > mx:
                    mx = k
                    first = row
                    ties = None
                elif k == mx:
                    if ties is None:
                        ties = [row]
                    else:
                        ties.append(row)
        except TypeError as exc:
            if not isinstance(exc, CursorError):  # e.g. a naive datetime meeting aware ones
                check_cursor(value, f"the cursor {value!r:.60}",
                             like=self.start if self.start is not None else self.max_cursor)
            raise
        self._previous = prev
        self._mx_key, self.max_cursor = mx, self._unkeyed(mx)
        if first is not MISSING:
            self._builder.clear()
            self._at_max = [first]
        self._at_max += ties or ()
        self._flush_boundary()
        return kept

    def _keyed(self, value: Any) -> Any:
        return value if self._key is None or value is None else self._key(value)

    def _unkeyed(self, k: Any) -> Any:
        return k if self._key is None or k is None else k.v

    def _flush_boundary(self) -> None:
        """Take the identities of the rows held at the furthest value, once many are held."""
        if self.spec.dedups and len(self._at_max) > _FLUSH_ROWS:
            for row in self._at_max:
                self._builder.add(self.spec.identity_of(row))
            self._at_max = []

    def filter(self, rows: Iterable[Any]) -> list[Any]:
        """The rows inside the window not loaded before; records their furthest cursor.

        With ``row_order`` it stops at the first row past the window (not reading the
        rest of ``rows``) and sets ``exhausted``; once exhausted it returns ``[]``.
        """
        self.used = True
        if self.exhausted:
            return []
        return self._scan(rows, keep=True)

    def observe(self, rows: Iterable[Any]) -> None:
        """Record the furthest cursor of ``rows`` (loaded as they are) without filtering."""
        self.used = True
        self._scan(rows, keep=False)

    # -- the window as a query ------------------------------------------------------

    def _edges(self) -> tuple[Any, Any, bool, bool, bool]:
        func = self.spec.last_value_func
        if func not in (max, min):
            raise TypeError("where() and query_params() need last_value_func=max or min")
        return (self.start, self.end, self.spec.range_start == "closed",
                self.spec.range_end == "closed", func is max)

    def where(self, column: Any) -> Any:
        """A SQLAlchemy clause selecting ``column``'s rows inside the window.

        ``select(t).where(window.where(t.c.updated_at))``: edges as configured (a closed
        start re-reads the rows at the stored cursor: pass the result to ``filter``).
        """
        return where_clause(column, self._edges())

    def query_params(self, start: str | None = "start", end: str | None = "end", *,
                     format: Format = "iso") -> dict[str, Any]:
        """The window's edges as HTTP query parameters, e.g. ``{"since": "2026-...Z"}``.

        ``format``: ``"iso"`` (default), ``"timestamp"``, ``"timestamp_ms"``, a
        ``strftime`` pattern or a callable; an edge that is None is left out.
        """
        return query_params(self._edges(), start, end, format)

    # -- storing the cursor ---------------------------------------------------------

    def _boundary(self) -> Boundary:
        if not self.spec.dedups:
            return Boundary()
        for row in self._at_max:
            self._builder.add(self.spec.identity_of(row))
        self._at_max = []
        return self._builder.build()

    def commit(self) -> bool:
        """Store the furthest cursor recorded; True if the stored watermark moved."""
        if not self._writes or self.max_cursor is None:
            return False
        boundary, limit = self._boundary(), BOUNDARY_LIMIT
        if isinstance(self._store, AssetStore):
            return self._commit_locked(boundary, limit)
        expected = self._stored_raw if self._expected_known \
            else self._store.get(self.spec.key)  # type: ignore[union-attr]
        attempts = 0
        while attempts < _CAS_ATTEMPTS:
            current = None if expected is None else State.decode(expected)
            new = merged(current, self.max_cursor, boundary, self._direction, limit)
            if new is None:
                return False
            try:
                if self._store.compare_and_set(self.spec.key, expected,  # type: ignore[union-attr]
                                               new.encode()):
                    self._stored_raw = new.encode()
                    return True
            except ValueTooLargeError:
                if limit == 0:
                    raise
                limit //= 2  # a store with a smaller value limit: keep fewer identities
                continue
            attempts += 1
            expected = self._store.get(self.spec.key)  # type: ignore[union-attr]
        raise WatermarkConflictError(
            f"the watermark {self.spec.key!r} changed under each of {_CAS_ATTEMPTS} "
            "compare_and_set attempts; nothing was stored")

    def _commit_locked(self, boundary: Boundary, limit: int) -> bool:
        """Merge under the store's row lock (``AssetStore.update``): concurrent commits
        of one watermark queue, and every one of them lands."""
        moved = False

        def change(raw: Any) -> Any:
            nonlocal moved
            current = None if raw is None else State.decode(raw)
            new = merged(current, self.max_cursor, boundary, self._direction, limit)
            moved = new is not None
            return None if new is None else new.encode()

        while True:
            try:
                stored = self._store.update(self.spec.key, change)  # type: ignore[union-attr]
            except ValueTooLargeError:
                if limit == 0:
                    raise
                limit //= 2  # a store with a smaller value limit: keep fewer identities
                continue
            if moved:
                self._stored_raw = stored
            return moved

    def __enter__(self) -> Window:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()


def is_rows(result: object) -> bool:
    """Whether a function's result is a list or tuple of rows to observe: mappings,
    ``sqlite3.Row``, SQLAlchemy rows, namedtuples, dataclasses or pydantic models."""
    return isinstance(result, (list, tuple)) and all(is_row(r) for r in result)


def open_window(asset_store: Any | None, *, cursor: str | Callable[[Any], Any],
                context: Mapping[str, Any] | None = None,
                **options: Any) -> Window:
    """Open a watermark window on ``asset_store``, for code that cannot use a decorator.

    ``options`` are ``@watermark``'s (``initial``, ``primary_key``, ``lag``, ``end``,
    ``last_value_func``, ``range_start``, ``range_end``, ``row_order``, ...).
    ``with open_window(store, cursor="updated_at") as window:`` commits when the block
    ends without an exception; or call ``window.commit()`` yourself once the load is
    committed. ``asset_store`` may be None for a bounded backfill (``end=``). ``context``
    (an Airflow task context) gives the data interval to
    ``allow_external_schedulers=True``; inside a running task it is found by itself.
    """
    spec = WatermarkSpec(cursor, **_spec_options(options))
    return window_for(spec, asset_store, context)


def _spec_options(options: dict[str, Any]) -> dict[str, Any]:
    pk = options.get("primary_key")
    if isinstance(pk, Sequence) and not isinstance(pk, str):
        options["primary_key"] = tuple(pk)
    return options


def window_for(spec: WatermarkSpec, asset_store: Any | None,
               context: Mapping[str, Any] | None = None) -> Window:
    """A window for ``spec``: the stored watermark is read unless it is not needed."""
    interval = None
    if spec.allow_external_schedulers:
        if context is None:
            from resumable._context import current_airflow_context
            context = current_airflow_context()
        interval = data_interval(context)
    if spec.end is not None:
        return Window(spec, None)
    if interval is not None:
        return Window(spec, None if interval.backfill else asset_store, interval=interval)
    if asset_store is None:
        raise TypeError("open_window needs an asset store (None only with end=)")
    return Window(spec, asset_store, asset_store.get(spec.key))

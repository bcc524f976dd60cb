"""``Window``: one run's view of an incremental load's cursor, and how the cursor moves.

How it works: a :class:`WatermarkSpec` (frozen, validated once) says which field is the
cursor, where to start, the lag, the bound and how rows are told apart. Opening a window
reads the stored watermark (``{"type", "cursor", "boundary"}`` under ``spec.key`` in the
asset store): ``start`` is the stored cursor minus ``lag``, never before ``initial``
(:func:`resumable._cursor.window_start`, which also keeps a start below year 1 from
overflowing), or ``initial`` on the first run.
``filter(rows)`` keeps rows with ``start <= cursor < end`` (closed start, open end, as
dlt does), drops the rows at the stored cursor whose identity was loaded before, and
records the largest cursor kept together with the identities of the rows that carry it
(the next run's boundary); ``observe(rows)`` only records. ``commit()`` merges what was
recorded into the stored watermark (:func:`merged`, a pure function) and writes it with
``compare_and_set``, re-reading and merging again if another run wrote first, so the
cursor never moves backwards and two concurrent runs end at the larger value. Nothing is
written when nothing was observed, or for a bounded backfill (``end=``).

Rows may have any common shape and fields may be dotted paths (``"data.updated_at"``):
:mod:`resumable._rows` reads them. Row identities are the first 16 hex digits of the
SHA-256 of the canonical JSON of the primary key (``primary_key=``: a field, a tuple of
fields, or a callable), or of the whole row when no primary key is given (the same for
the same data whatever the row's shape); ``primary_key=()`` turns boundary dedup off.

What it does not do: dedupe rows re-read because of ``lag`` (only rows at the stored
cursor itself are known): load them with an upsert. It never stores the wall clock.

Known limits: the boundary list must fit the store's value limit: about 3,400 rows may
share the last cursor value under the default 64 KiB.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from resumable._context import AssetStoreLike
from resumable._cursor import (
    CursorValue,
    check_cursor,
    check_lag,
    decode_cursor,
    encode_cursor,
    window_start,
)
from resumable._errors import CursorTypeError, MissingCursorError, WatermarkConflictError
from resumable._rows import MISSING, canonical_json, is_row, read_field, row_json
from store_client import validate_key

__all__ = ["State", "WatermarkSpec", "Window", "is_rows", "merged", "open_window", "window_for"]

OnMissing = Literal["raise", "include", "exclude"]
_CAS_ATTEMPTS = 20


@dataclass(frozen=True)
class WatermarkSpec:
    """How one incremental load reads and moves its cursor; validated on construction."""

    cursor: str | Callable[[Any], Any]
    initial: CursorValue | None = None
    primary_key: str | tuple[str, ...] | Callable[[Any], Any] | None = None
    lag: Any = None
    end: CursorValue | None = None
    on_missing_cursor: OnMissing = "raise"
    key: str = "watermark"

    def __post_init__(self) -> None:
        if not callable(self.cursor) and not (isinstance(self.cursor, str) and self.cursor):
            raise TypeError(f"cursor must be a field name or a callable, got {self.cursor!r}")
        validate_key(self.key)
        if self.on_missing_cursor not in ("raise", "include", "exclude"):
            raise ValueError("on_missing_cursor must be 'raise', 'include' or 'exclude', "
                             f"got {self.on_missing_cursor!r}")
        if isinstance(self.primary_key, list):
            object.__setattr__(self, "primary_key", tuple(self.primary_key))
        if not (self.primary_key is None or callable(self.primary_key)
                or isinstance(self.primary_key, str)
                or (isinstance(self.primary_key, tuple)
                    and all(isinstance(k, str) for k in self.primary_key))):
            raise TypeError("primary_key must be a field name, a tuple of field names, "
                            f"a callable or None, got {self.primary_key!r}")
        if self.initial is not None:
            check_cursor(self.initial, "initial")
        if self.lag is not None:
            check_lag(self.lag, like=self.initial)
        if self.end is not None:
            if self.initial is None:
                raise ValueError("end= needs initial=: a backfill's window is [initial, end)")
            check_cursor(self.end, "end", like=self.initial)
            if not self.initial < self.end:  # type: ignore[operator]
                raise ValueError(f"end ({self.end!r}) must be after initial ({self.initial!r})")

    def cursor_of(self, row: object) -> Any:
        """The row's cursor value, or the ``MISSING`` marker."""
        if callable(self.cursor):
            value = self.cursor(row)
            return MISSING if value is None else value
        return read_field(row, self.cursor)

    def identity_of(self, row: object) -> str | None:
        """The row's boundary identity (a short hash), or None when dedup is off."""
        pk = self.primary_key
        if pk == ():
            return None
        if callable(pk):
            value: object = pk(row)
        elif isinstance(pk, str):
            value = read_field(row, pk)
        elif isinstance(pk, tuple):
            value = [read_field(row, name) for name in pk]
        else:
            return _short_hash(row_json(row))
        if value is MISSING or (isinstance(value, list) and MISSING in value):
            raise MissingCursorError(f"a row has no primary key {pk!r}: {row!r:.120}")
        return _short_hash(canonical_json(value))


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class State:
    """A stored watermark: the cursor and the identities of the rows at it."""

    cursor: CursorValue
    boundary: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def decode(cls, stored: object) -> State:
        if not isinstance(stored, dict):
            raise CursorTypeError(f"the stored watermark {stored!r:.100} is not one this "
                                  "library wrote")
        return cls(decode_cursor(stored), frozenset(stored.get("boundary") or ()))

    def encode(self) -> dict[str, Any]:
        return {**encode_cursor(self.cursor), "boundary": sorted(self.boundary)}


def merged(current: State | None, observed: CursorValue | None,
           boundary: frozenset[str]) -> State | None:
    """The watermark to store after observing up to ``observed``; None if nothing moves.

    Never backwards: a ``current`` beyond ``observed`` stays. At an equal cursor the
    boundary identities are united.
    """
    if observed is None:
        return None
    if current is None:
        return State(observed, boundary)
    check_cursor(observed, "the observed cursor", like=current.cursor)
    if observed > current.cursor:  # type: ignore[operator]
        return State(observed, boundary)
    if observed == current.cursor and not boundary <= current.boundary:
        return State(observed, current.boundary | boundary)
    return None


class Window:
    """One run's window of an incremental load: ``start``, ``end``, ``filter``, ``observe``.

    Open it with ``@watermark`` or :func:`open_window`. ``stored`` is the watermark read
    when it opened (None on the first run and for backfills); ``max_cursor`` the largest
    cursor recorded so far.
    """

    def __init__(self, spec: WatermarkSpec, store: AssetStoreLike | None,
                 stored_raw: object = None) -> None:
        self.spec = spec
        self._store = store
        self._stored_raw = stored_raw
        self.stored = None if stored_raw is None else State.decode(stored_raw)
        if self.stored is not None and spec.initial is not None:
            check_cursor(self.stored.cursor, f"the stored watermark {spec.key!r}",
                         like=spec.initial)
        self.start: Any = spec.initial
        if self.stored is not None:
            self.start = window_start(self.stored.cursor, spec.lag, floor=spec.initial)
        self.end: Any = spec.end
        self.max_cursor: Any = None
        self._boundary: set[str] = set()
        self.used = False

    def __repr__(self) -> str:
        return f"Window(start={self.start!r}, end={self.end!r}, max_cursor={self.max_cursor!r})"

    def _cursor(self, row: object) -> Any:
        value = self.spec.cursor_of(row)
        if value is MISSING:
            if self.spec.on_missing_cursor == "raise":
                raise MissingCursorError(f"a row has no cursor {self.spec.cursor!r} "
                                         f"(on_missing_cursor='raise'): {row!r:.120}")
            return MISSING
        what = f"the cursor of row {row!r:.80}"
        if self.start is not None:
            check_cursor(value, what, like=self.start)
        return check_cursor(value, what, like=self.max_cursor)

    def _record(self, value: Any, row: object) -> None:
        if self.max_cursor is None or value > self.max_cursor:
            self.max_cursor = value
            self._boundary.clear()
        if value == self.max_cursor and (identity := self.spec.identity_of(row)) is not None:
            self._boundary.add(identity)

    def _keeps(self, row: object) -> bool:
        value = self._cursor(row)
        if value is MISSING:
            return self.spec.on_missing_cursor == "include"
        if (self.start is not None and value < self.start) or \
                (self.end is not None and value >= self.end):
            return False
        stored = self.stored
        if stored is not None and stored.boundary and value == stored.cursor \
                and self.spec.identity_of(row) in stored.boundary:
            return False
        self._record(value, row)
        return True

    def filter(self, rows: Iterable[Any]) -> list[Any]:
        """The rows inside the window not loaded before; records their largest cursor."""
        self.used = True
        return [row for row in rows if self._keeps(row)]

    def observe(self, rows: Iterable[Any]) -> None:
        """Record the largest cursor of ``rows`` (loaded as they are) without filtering."""
        self.used = True
        for row in rows:
            value = self._cursor(row)
            if value is not MISSING:
                self._record(value, row)

    def commit(self) -> bool:
        """Store the largest cursor recorded; True if the stored watermark moved."""
        if self.spec.end is not None or self.max_cursor is None or self._store is None:
            return False
        expected = self._stored_raw
        boundary = frozenset(self._boundary)
        for _ in range(_CAS_ATTEMPTS):
            current = None if expected is None else State.decode(expected)
            new = merged(current, self.max_cursor, boundary)
            if new is None:
                return False
            if self._store.compare_and_set(self.spec.key, expected, new.encode()):
                self._stored_raw = new.encode()
                return True
            expected = self._store.get(self.spec.key)
        raise WatermarkConflictError(
            f"the watermark {self.spec.key!r} changed under each of {_CAS_ATTEMPTS} "
            "compare_and_set attempts; nothing was stored")

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


def open_window(asset_store: AssetStoreLike | None, *, cursor: str | Callable[[Any], Any],
                initial: CursorValue | None = None,
                primary_key: str | Sequence[str] | Callable[[Any], Any] | None = None,
                lag: Any = None, end: CursorValue | None = None,
                on_missing_cursor: OnMissing = "raise", key: str = "watermark") -> Window:
    """Open a watermark window on ``asset_store``, for code that cannot use a decorator.

    ``with open_window(store, cursor="updated_at") as window:`` commits when the block
    ends without an exception; or call ``window.commit()`` yourself once the load is
    committed. ``asset_store`` may be None for a bounded backfill (``end=``).
    """
    spec = WatermarkSpec(cursor, initial, primary_key, lag, end,  # type: ignore[arg-type]
                         on_missing_cursor, key)
    return window_for(spec, asset_store)


def window_for(spec: WatermarkSpec, asset_store: AssetStoreLike | None) -> Window:
    """A window for ``spec``: the stored watermark is read unless it is a backfill."""
    if spec.end is not None:
        return Window(spec, None)
    if asset_store is None:
        raise TypeError("open_window needs an asset store (None only with end=)")
    return Window(spec, asset_store, asset_store.get(spec.key))

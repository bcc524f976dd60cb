"""``WatermarkSpec``: how one incremental load reads and moves its cursor, validated once.

How it works: a frozen dataclass checked on construction (the decorator builds it at
decoration time, so a bad option fails before any run) and never changed by a call.
It says which field is the cursor (a name, a dotted path, or a callable), where a first
run starts (``initial``), the ``lag``, the bound of a backfill (``end``), how rows at the
stored cursor are told apart (``primary_key``), which way the cursor moves
(``last_value_func``: :class:`Direction`), whether each edge of the window is open or
closed, the order rows arrive in (``row_order``, for early stop), and whether an
Airflow data interval may set the window (``allow_external_schedulers``).

What it does not do: touch a store (see :mod:`resumable._window`). ``lag`` needs
``max`` or ``min`` (as in dlt); a data interval needs ``max`` (the interval runs forward
in time).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from resumable._boundary import identity
from resumable._cursor import CursorValue, check_cursor, check_lag, window_start
from resumable._errors import CursorTypeError, MissingCursorError
from resumable._rows import MISSING, canonical_json, read_field, row_json
from store_client import validate_key

__all__ = ["Direction", "Edge", "OnMissing", "RowOrder", "WatermarkSpec"]

OnMissing = Literal["raise", "include", "exclude"]
Edge = Literal["open", "closed"]
RowOrder = Literal["asc", "desc"]
LastValueFunc = Callable[[Any], Any]
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Direction:
    """Which way a cursor advances: ``max`` (up), ``min`` (down) or a dlt-style callable.

    A callable is given a tuple of cursor values and returns the one that is "last"
    (furthest along), as ``max`` and ``min`` do.
    """

    func: LastValueFunc = max

    @property
    def before(self) -> Callable[[Any, Any], bool]:
        """``before(a, b)``: whether ``a`` comes strictly before ``b`` as the cursor moves."""
        if self.func is max:
            return operator.lt
        if self.func is min:
            return operator.gt
        func = self.func
        return lambda a, b: a != b and func((a, b)) == b

    @property
    def key(self) -> Callable[[Any], Any] | None:
        """A sort key under which the cursor moves up (None for ``max``: the value itself)."""
        if self.func is max:
            return None
        if self.func is min:
            return _Reversed
        func = self.func
        return lambda value: _ByFunc(value, func)

    @property
    def name(self) -> str:
        if self.func is max or self.func is min:
            return self.func.__name__
        return str(getattr(self.func, "__name__", "a callable"))

    def later(self, a: Any, b: Any) -> bool:
        """Whether ``a`` is strictly further along than ``b``."""
        return bool(self.before(b, a))


class _Reversed:
    """A cursor value ordered backwards (``min``): larger values come first."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.v < self.v)

    def __le__(self, other: _Reversed) -> bool:
        return bool(other.v <= self.v)

    def __gt__(self, other: _Reversed) -> bool:
        return bool(other.v > self.v)

    def __ge__(self, other: _Reversed) -> bool:
        return bool(other.v >= self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(other.v == self.v)

    __hash__ = None  # type: ignore[assignment]


class _ByFunc(_Reversed):
    """A cursor value ordered by a dlt-style ``last_value_func``: later values are larger."""

    __slots__ = ("func",)

    def __init__(self, v: Any, func: LastValueFunc) -> None:
        super().__init__(v)
        self.func = func

    def __lt__(self, other: _Reversed) -> bool:
        return bool(self.v != other.v and self.func((self.v, other.v)) == other.v)

    def __gt__(self, other: _Reversed) -> bool:
        return bool(other.v != self.v and self.func((self.v, other.v)) == self.v)

    def __le__(self, other: _Reversed) -> bool:
        return not self > other

    def __ge__(self, other: _Reversed) -> bool:
        return not self < other


def _plus_lag(cursor: CursorValue, lag: Any) -> CursorValue:
    """``cursor + lag`` for a cursor that moves down (``min``): a later start re-reads.

    A date goes up by whole days, rounded up; past the type's range it is its largest value.
    """
    if isinstance(cursor, (int, float, Decimal)):
        return -window_start(-cursor, lag)  # type: ignore[operator]
    if isinstance(cursor, str):
        raise CursorTypeError("lag with last_value_func=min needs a number, date or "
                              f"datetime cursor, got the str {cursor!r:.60}")
    step = lag if isinstance(cursor, datetime) else _DAY * -(-lag // _DAY)
    try:
        moved: CursorValue = cursor + step
        return moved
    except OverflowError:
        if isinstance(cursor, datetime):
            return datetime.max.replace(tzinfo=cursor.tzinfo)
        return date.max


def _choice(value: object, name: str, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                         f"got {value!r:.60}")


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
    last_value_func: LastValueFunc = max
    range_start: Edge = "closed"
    range_end: Edge = "open"
    row_order: RowOrder | None = None
    allow_external_schedulers: bool = False

    def __post_init__(self) -> None:
        if not callable(self.cursor) and not (isinstance(self.cursor, str) and self.cursor):
            raise TypeError(f"cursor must be a field name or a callable, got {self.cursor!r}")
        validate_key(self.key)
        _choice(self.on_missing_cursor, "on_missing_cursor", ("raise", "include", "exclude"))
        _choice(self.range_start, "range_start", ("closed", "open"))
        _choice(self.range_end, "range_end", ("open", "closed"))
        _choice(self.row_order, "row_order", (None, "asc", "desc"))
        if not isinstance(self.allow_external_schedulers, bool):
            raise TypeError("allow_external_schedulers must be True or False, "
                            f"got {self.allow_external_schedulers!r:.60}")
        self._check_primary_key()
        self._check_direction()
        if self.initial is not None:
            check_cursor(self.initial, "initial")
            self._call_last_value_func(self.initial, self.initial)
        if self.lag is not None:
            check_lag(self.lag, like=self.initial)
        if self.end is not None:
            self._check_end()

    def _check_primary_key(self) -> None:
        if isinstance(self.primary_key, list):
            object.__setattr__(self, "primary_key", tuple(self.primary_key))
        pk = self.primary_key
        if not (pk is None or callable(pk) or isinstance(pk, str)
                or (isinstance(pk, tuple) and all(isinstance(k, str) for k in pk))):
            raise TypeError("primary_key must be a field name, a tuple of field names, "
                            f"a callable or None, got {pk!r}")

    def _check_direction(self) -> None:
        func = self.last_value_func
        if not callable(func):
            raise TypeError(f"last_value_func must be max, min or a callable, got {func!r:.60}")
        if self.lag is not None and func not in (max, min):
            raise ValueError("lag needs last_value_func=max or min: a custom function has "
                             "no direction to take the lag in")
        if self.allow_external_schedulers and func is not max:
            raise ValueError("allow_external_schedulers needs last_value_func=max: a data "
                             "interval runs forward in time")

    def _call_last_value_func(self, a: Any, b: Any) -> Any:
        try:
            return self.last_value_func((a, b))
        except Exception as exc:
            raise TypeError(f"last_value_func {self.direction.name} failed on "
                            f"({a!r:.40}, {b!r:.40}): {exc}") from exc

    def _check_end(self) -> None:
        if self.initial is None:
            raise ValueError("end= needs initial=: a backfill's window runs from initial to end")
        check_cursor(self.end, "end", like=self.initial)
        if not self.direction.later(self.end, self.initial):
            raise ValueError(f"end ({self.end!r}) must be past initial ({self.initial!r}) "
                             f"for last_value_func={self.direction.name}")

    @property
    def direction(self) -> Direction:
        return Direction(self.last_value_func)

    def start_after(self, cursor: CursorValue) -> CursorValue:
        """Where a window opens after the stored ``cursor``: back by ``lag`` (up, for
        ``min``), never past ``initial``; a custom direction takes no lag."""
        if self.last_value_func is max:
            return window_start(cursor, self.lag, floor=self.initial)
        if self.last_value_func is not min:
            return cursor
        start = cursor if self.lag is None else _plus_lag(cursor, self.lag)
        if self.initial is not None and start > self.initial:  # type: ignore[operator]
            return self.initial
        return start

    @property
    def dedups(self) -> bool:
        """Whether rows at the stored cursor are told apart (closed start, a key)."""
        return self.range_start == "closed" and self.primary_key != ()

    def cursor_of(self, row: object) -> Any:
        """The row's cursor value, or the ``MISSING`` marker."""
        if callable(self.cursor):
            value = self.cursor(row)
            return MISSING if value is None else value
        return read_field(row, self.cursor)

    def identity_of(self, row: object) -> int:
        """The row's identity at the boundary (see :mod:`resumable._boundary`).

        The primary key's, or the whole row's when there is none. With ``lag`` it is
        always the whole row's: a row re-read at the cursor whose content changed (the
        clicks of yesterday, updated today) is delivered again, an unchanged one is not.
        """
        pk = self.primary_key
        if self.lag is not None or pk is None:
            return identity(row_json(row))
        if callable(pk):
            value: object = pk(row)
        elif isinstance(pk, str):
            value = read_field(row, pk)
        else:
            value = [read_field(row, name) for name in pk]
        if value is MISSING or (isinstance(value, list) and MISSING in value):
            raise MissingCursorError(f"a row has no primary key {pk!r}: {row!r:.120}")
        return identity(canonical_json(value))

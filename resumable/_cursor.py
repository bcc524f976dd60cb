"""Typed watermark cursors: which values may be cursors, how they are stored and compared.

How it works: a cursor is an ``int``, ``float``, ``str``, tz-aware ``datetime`` or
``date``. Each value is stored as JSON with its type beside it (``{"type": "datetime",
"cursor": "2026-01-01T00:00:00.000001+02:00"}``) and decoded back to an equal value of
the same type: datetimes keep their microseconds and UTC offset, floats their exact
bits (JSON keeps the shortest repr), ints any size. Values of different families (a
number against a string, a date against a datetime) are refused rather than compared,
because Python either raises or compares them meaninglessly.

A window's start is :func:`window_start`: ``cursor - lag``, never below a floor (the
load's ``initial``). A subtraction that leaves the type's range (``datetime.min`` minus a
day) is not an error: the start is the floor, or the smallest value of the type when
there is none. An ``int`` and a ``float`` too large to meet as floats are subtracted
exactly and rounded down to an ``int`` (a start a little early re-reads, never skips).

What it does not do: ``Decimal``, naive datetimes (ambiguous across workers: refused),
``bool`` (an ``int`` by accident, refused), non-finite lags (refused). A datetime comes
back with a fixed-offset ``timezone``, not the ``ZoneInfo`` it was written with: equal
instant and offset.

Known limits: without a floor, a datetime start below the range is ``datetime.min`` in
the cursor's own time zone; rows in another zone whose instant is earlier still (the
first hours of year 1) fall before it.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, Union

from resumable._errors import CursorTypeError

__all__ = ["CursorValue", "check_cursor", "check_lag", "decode_cursor", "encode_cursor",
           "family", "minus_lag", "window_start"]

CursorValue = Union[int, float, str, datetime, date]  # noqa: UP007 (used at runtime)


def family(value: object) -> str:
    """The comparison family of a cursor value; ``CursorTypeError`` if it cannot be one."""
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    if isinstance(value, str):
        return "str"
    raise CursorTypeError(f"a cursor must be an int, float, str, tz-aware datetime or "
                          f"date, got {type(value).__name__}: {value!r:.80}")


def check_cursor(value: object, what: str, like: object = None) -> CursorValue:
    """Return ``value`` if it can be a cursor (of ``like``'s family, when given)."""
    name = family(value)
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise CursorTypeError(f"{what} is a naive datetime ({value.isoformat()}); cursors "
                              "must be tz-aware (e.g. tzinfo=timezone.utc)")
    if isinstance(value, float) and not math.isfinite(value):
        raise CursorTypeError(f"{what} must be finite, got {value!r}")
    if like is not None and family(like) != name:
        raise CursorTypeError(f"{what} is a {type(value).__name__} ({value!r:.60}) but the "
                              f"cursor is a {type(like).__name__} ({like!r:.60})")
    return value  # type: ignore[return-value]


def encode_cursor(value: CursorValue) -> dict[str, Any]:
    """``{"type": ..., "cursor": ...}``: JSON that :func:`decode_cursor` turns back."""
    if isinstance(value, datetime):
        return {"type": "datetime", "cursor": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "cursor": value.isoformat()}
    kind = "float" if isinstance(value, float) else "int" if isinstance(value, int) else "str"
    return {"type": kind, "cursor": value}


def decode_cursor(stored: dict[str, Any]) -> CursorValue:
    """The cursor value of :func:`encode_cursor`'s output."""
    kind, raw = stored.get("type"), stored.get("cursor")
    decoders: dict[Any, Any] = {"datetime": datetime.fromisoformat,
                                "date": date.fromisoformat, "int": int, "float": float,
                                "str": str}
    if kind not in decoders or raw is None:
        raise CursorTypeError(f"the stored watermark {stored!r:.100} is not one this "
                              "library wrote (no known 'type' and 'cursor')")
    value: CursorValue = decoders[kind](raw)
    return value


def check_lag(lag: object, like: object = None) -> None:
    """Refuse a ``lag`` that is not a finite, non-negative timedelta or number.

    With ``like`` (a cursor value, e.g. ``initial``) the lag must also fit its type: a
    ``timedelta`` for datetimes and dates, a number for numbers. No arithmetic is done,
    so a cursor at the edge of its type's range (``datetime.min``) is fine.
    """
    if like is not None:
        kind = family(like)
        if kind in ("datetime", "date") and not isinstance(lag, timedelta):
            raise CursorTypeError(f"lag must be a timedelta for a {type(like).__name__} "
                                  f"cursor, got {lag!r}")
        if kind == "str" or (kind == "number" and not _is_number(lag)):
            raise CursorTypeError(f"lag {lag!r} cannot be taken from the "
                                  f"{type(like).__name__} cursor {like!r:.60}")
    if isinstance(lag, timedelta):
        negative = lag < timedelta(0)
    elif _is_number(lag):
        if isinstance(lag, float) and not math.isfinite(lag):  # an int is always finite
            raise ValueError(f"lag must be finite, got {lag!r}")
        negative = lag < 0  # type: ignore[operator]
    else:
        raise TypeError(f"lag must be a timedelta or a number, got {lag!r}")
    if negative:
        raise ValueError(f"lag must not be negative, got {lag!r}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lowest(value: datetime | date) -> datetime | date:
    """The smallest value of ``value``'s type (in its time zone, for a datetime)."""
    if isinstance(value, datetime):
        return datetime.min.replace(tzinfo=value.tzinfo)
    return date.min


def minus_lag(value: CursorValue, lag: object, floor: CursorValue | None = None
              ) -> CursorValue:
    """``value - lag``, never below ``floor``; a timedelta for dates, a number for numbers.

    A date or datetime result outside the type's range is ``floor`` (or the type's
    smallest value). An ``int`` minus a ``float`` (or the reverse) too large to convert
    is computed exactly and rounded down to an ``int``.
    """
    if isinstance(value, (datetime, date)):
        if not isinstance(lag, timedelta):
            raise CursorTypeError(f"lag must be a timedelta for a {type(value).__name__} "
                                  f"cursor, got {lag!r}")
        try:
            result: CursorValue = value - lag
        except OverflowError:  # below year 1: below every floor there can be
            return floor if floor is not None else _lowest(value)
    elif isinstance(value, (int, float)) and _is_number(lag):
        number: int | float = lag  # type: ignore[assignment]
        try:
            result = value - number
        except OverflowError:  # e.g. 2**1100 - 0.5: exact, rounded down to an int
            result = math.floor(Fraction(value) - Fraction(number))
    else:
        raise CursorTypeError(f"lag {lag!r} cannot be taken from the {type(value).__name__} "
                              f"cursor {value!r:.60}")
    if floor is not None and result < floor:  # type: ignore[operator]
        return floor
    return result


def window_start(cursor: CursorValue, lag: object, floor: CursorValue | None = None
                 ) -> CursorValue:
    """Where a window opens after the stored ``cursor``: ``cursor - lag`` (``cursor`` when
    ``lag`` is None), never below ``floor``."""
    if lag is not None:
        return minus_lag(cursor, lag, floor)
    if floor is not None and cursor < floor:  # type: ignore[operator]
        return floor
    return cursor

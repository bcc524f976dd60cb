"""Typed watermark cursors: which values may be cursors, how they are stored and compared.

How it works: a cursor is an ``int``, ``float``, ``Decimal`` (SQL ``NUMERIC``), ``str``,
tz-aware ``datetime`` or ``date``. Each value is stored as JSON with its type beside it
(``{"type": "datetime", "cursor": "2026-01-01T00:00:00.000001+02:00"}``) and decoded
back to an equal value of the same type: datetimes keep their microseconds and UTC
offset, floats their exact bits (JSON keeps the shortest repr), ints any size, Decimals
their digits and exponent (stored as a string: ``"12.50"`` comes back ``Decimal("12.50")``).
Values of different families (a number against a string, a date against a datetime, a
``Decimal`` against a ``float``) are refused rather than compared, because Python either
raises or compares them meaninglessly; an ``int`` goes with a ``float`` or a ``Decimal``.

A window's start is :func:`window_start`: ``cursor - lag``, never below a floor (the
load's ``initial``). A subtraction that leaves the type's range (``datetime.min`` minus a
day) is not an error: the start is the floor, or the smallest value of the type when
there is none. An ``int`` and a ``float`` too large to meet as floats are subtracted
exactly and rounded down to an ``int`` (a start a little early re-reads, never skips); a
``Decimal`` minus a ``Decimal`` or ``int`` lag is exact, whatever the context precision
(rounded down only past 10,000 digits). A ``date`` minus a ``timedelta`` goes back whole
days, rounding up (a 5-hour lag starts a day earlier). A ``str`` cursor takes a
``timedelta`` lag only when it is ISO-8601 text (``resumable._iso_cursor``): the start is
text in the same shape (separator, precision, ``Z`` or offset, or naive wall-clock time),
rounded down, so that it sorts against the rows' text as the times do; the floor is
compared as text. :func:`coerce_to_cursor` turns an aware datetime (Airflow's
``data_interval_start``) into a cursor of another's family: a datetime, its date in its own
zone, ISO text in the other's shape, or seconds since the epoch (an ``int`` floored, a
``float``, or an exact ``Decimal``).

What it does not do: a ``float`` lag on a ``Decimal`` cursor or a ``Decimal`` lag on a
``float`` one (refused, as are such cursors together), non-finite Decimals, naive
datetimes (ambiguous across workers: refused; naive ISO text is allowed), ``bool`` (an
``int`` by accident, refused), non-finite lags (refused), a lag on non-ISO text (refused).
A datetime comes back with a fixed-offset ``timezone``, not the ``ZoneInfo`` it was
written with: equal instant and offset.

Known limits: without a floor, a datetime start below the range is ``datetime.min`` in
the cursor's own time zone; rows in another zone whose instant is earlier still (the
first hours of year 1) fall before it. ISO text in the basic format, with nanoseconds or
``+HHMM`` offsets cannot take a lag (see ``resumable._iso_cursor``).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import MAX_EMAX, MIN_EMIN, ROUND_FLOOR, Context, Decimal
from fractions import Fraction
from typing import Any, Union

from resumable import _iso_cursor
from resumable._errors import CursorError, CursorTypeError

__all__ = ["CursorValue", "check_cursor", "check_lag", "coerce_to_cursor", "compatible",
           "decode_cursor", "encode_cursor", "family", "minus_lag", "window_start"]

CursorValue = Union[int, float, Decimal, str, datetime, date]  # noqa: UP007 (at runtime)

_DECIMAL_DIGITS = 10_000  # a Decimal start needing more digits is rounded down
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def family(value: object) -> str:
    """The comparison family of a cursor value; ``CursorTypeError`` if it cannot be one."""
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "number"
    if isinstance(value, Decimal):
        return "decimal"
    if isinstance(value, str):
        return "str"
    raise CursorTypeError(f"a cursor must be an int, float, Decimal, str, tz-aware "
                          f"datetime or date, got {type(value).__name__}: {value!r:.80}")


def _kind(value: object) -> str:
    """:func:`family`, with ``float`` and ``Decimal`` apart and ``int`` on its own."""
    name = family(value)
    if name == "number":
        return "float" if isinstance(value, float) else "int"
    return name


def compatible(value: object, like: object) -> bool:
    """Whether cursors ``value`` and ``like`` may be compared: the same family, or an
    ``int`` with a ``float`` or a ``Decimal`` (never a ``float`` with a ``Decimal``)."""
    a, b = _kind(value), _kind(like)
    return a == b or ("int" in (a, b) and {a, b} <= {"int", "float", "decimal"})


def check_cursor(value: object, what: str, like: object = None) -> CursorValue:
    """Return ``value`` if it can be a cursor (of ``like``'s family, when given)."""
    family(value)
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise CursorTypeError(f"{what} is a naive datetime ({value.isoformat()}); cursors "
                              "must be tz-aware (e.g. tzinfo=timezone.utc)")
    if not _finite(value):
        raise CursorTypeError(f"{what} must be finite, got {value!r}")
    if like is not None and not compatible(value, like):
        raise CursorTypeError(f"{what} is a {type(value).__name__} ({value!r:.60}) but the "
                              f"cursor is a {type(like).__name__} ({like!r:.60})")
    return value  # type: ignore[return-value]


def encode_cursor(value: CursorValue) -> dict[str, Any]:
    """``{"type": ..., "cursor": ...}``: JSON that :func:`decode_cursor` turns back."""
    if isinstance(value, datetime):
        return {"type": "datetime", "cursor": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "cursor": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "cursor": str(value)}
    kind = "float" if isinstance(value, float) else "int" if isinstance(value, int) else "str"
    return {"type": kind, "cursor": value}


def decode_cursor(stored: dict[str, Any]) -> CursorValue:
    """The cursor value of :func:`encode_cursor`'s output."""
    kind, raw = stored.get("type"), stored.get("cursor")
    decoders: dict[Any, Any] = {"datetime": datetime.fromisoformat,
                                "date": date.fromisoformat, "int": int, "float": float,
                                "decimal": Decimal, "str": str}
    if kind not in decoders or raw is None:
        raise CursorTypeError(f"the stored watermark {stored!r:.100} is not one this "
                              "library wrote (no known 'type' and 'cursor')")
    value: CursorValue = decoders[kind](raw)
    return value


def check_lag(lag: object, like: object = None) -> None:
    """Refuse a ``lag`` that is not a finite, non-negative timedelta or number.

    With ``like`` (a cursor value, e.g. ``initial``) the lag must also fit its type: a
    ``timedelta`` for datetimes, dates and ISO-8601 text (refused for other text), a
    number for numbers (an ``int`` or a ``Decimal`` for a ``Decimal``, an ``int`` or a
    ``float`` for a ``float``). No arithmetic is done, so a cursor at the edge of its
    type's range (``datetime.min``) is fine.
    """
    if like is not None:
        kind = family(like)
        if kind in ("datetime", "date") and not isinstance(lag, timedelta):
            raise CursorTypeError(f"lag must be a timedelta for a {type(like).__name__} "
                                  f"cursor, got {lag!r}")
        if kind == "str" and isinstance(lag, timedelta):
            if not _iso_cursor.is_iso(like):
                raise _needs_iso(like)
        elif kind == "str" or (kind in ("number", "decimal")
                               and not (_is_number(lag) and compatible(lag, like))):
            raise CursorTypeError(f"lag {lag!r} cannot be taken from the "
                                  f"{type(like).__name__} cursor {like!r:.60}")
    if isinstance(lag, timedelta):
        negative = lag < timedelta(0)
    elif _is_number(lag):
        if not _finite(lag):
            raise ValueError(f"lag must be finite, got {lag!r}")
        negative = lag < 0  # type: ignore[operator]
    else:
        raise TypeError(f"lag must be a timedelta or a number, got {lag!r}")
    if negative:
        raise ValueError(f"lag must not be negative, got {lag!r}")


def _needs_iso(value: object) -> CursorTypeError:
    return CursorTypeError(f"lag on a str cursor needs ISO-8601 text (like "
                           f"2026-01-01T00:00:00Z or 2026-01-01), got {value!r:.80}")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def _finite(value: object) -> bool:
    """False for a NaN or infinite ``float`` or ``Decimal``; True for anything else."""
    if isinstance(value, Decimal):
        return value.is_finite()
    return not isinstance(value, float) or math.isfinite(value)


def _lowest(value: datetime | date) -> datetime | date:
    """The smallest value of ``value``'s type (in its time zone, for a datetime)."""
    if isinstance(value, datetime):
        return datetime.min.replace(tzinfo=value.tzinfo)
    return date.min


def _decimal_minus(value: Decimal, lag: Decimal) -> Decimal:
    """``value - lag`` exactly, whatever the current decimal context's precision (rounded
    down, never up, past ``_DECIMAL_DIGITS`` digits: a start a little early re-reads)."""
    lowest = min(value.as_tuple().exponent, lag.as_tuple().exponent)  # finite: an int
    digits = max(value.adjusted(), lag.adjusted()) - lowest + 2  # type: ignore[operator]
    context = Context(prec=min(max(digits, 28), _DECIMAL_DIGITS), rounding=ROUND_FLOOR,
                      Emax=MAX_EMAX, Emin=MIN_EMIN)
    return context.subtract(value, lag)


def minus_lag(value: CursorValue, lag: object, floor: CursorValue | None = None
              ) -> CursorValue:
    """``value - lag``, never below ``floor``; a timedelta for dates, datetimes and ISO
    text, a number for numbers.

    A date goes back whole days, rounding up. ISO text comes back in its own shape,
    rounded down (``CursorTypeError`` for other text). A result below year 1 is ``floor``
    (or the smallest value of the type, or of the text's shape). An ``int`` minus a
    ``float`` (or the reverse) too large to convert is computed exactly and rounded down
    to an ``int``. A ``Decimal`` with an ``int`` or a ``Decimal`` is a ``Decimal``, exact
    (see :func:`_decimal_minus`).
    """
    result: CursorValue | None
    if isinstance(value, str) and isinstance(lag, timedelta):
        try:
            result = _iso_cursor.minus(value, lag)
        except ValueError:
            raise _needs_iso(value) from None
        if result is None:  # below year 1
            return floor if floor is not None else _iso_cursor.lowest(value)
    elif isinstance(value, (datetime, date)):
        if not isinstance(lag, timedelta):
            raise CursorTypeError(f"lag must be a timedelta for a {type(value).__name__} "
                                  f"cursor, got {lag!r}")
        try:
            if isinstance(value, datetime):
                result = value - lag
            else:
                result = _iso_cursor.date_minus(value, lag)
        except OverflowError:
            result = None
        if result is None:  # below year 1: below every floor there can be
            return floor if floor is not None else _lowest(value)
    elif _is_number(value) and _is_number(lag) and compatible(lag, value):
        if isinstance(value, Decimal) or isinstance(lag, Decimal):
            result = _decimal_minus(Decimal(value), Decimal(lag))  # type: ignore[arg-type]
        else:
            number: int | float = lag  # type: ignore[assignment]
            try:
                result = value - number  # type: ignore[operator]
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


def coerce_to_cursor(value: datetime, like: CursorValue | None, what: str) -> CursorValue:
    """Aware ``value`` (e.g. Airflow's ``data_interval_start``, a pendulum ``DateTime``)
    as a cursor of ``like``'s family.

    A plain ``datetime`` with a fixed-offset ``timezone`` (same instant and offset) for a
    datetime or None; its date in its own zone for a date; text in ``like``'s shape for
    ISO-8601 text (rounded down; in ``like``'s offset, or its own wall-clock time when
    ``like`` is naive); seconds since the epoch for a number: an ``int`` rounded down, a
    ``float``, or a ``Decimal`` with exact microseconds. ``CursorTypeError`` for a naive
    ``value``, non-ISO text or a ``like`` that cannot be a cursor.
    """
    offset = value.utcoffset() if isinstance(value, datetime) else None
    if offset is None:
        raise CursorTypeError(f"{what} must be a tz-aware datetime, got {value!r:.80}")
    plain = datetime(value.year, value.month, value.day, value.hour, value.minute,
                     value.second, value.microsecond, timezone(offset))
    kind = "datetime" if like is None else _kind(like)
    if kind == "datetime":
        return plain
    if kind == "date":
        return plain.date()
    if isinstance(like, str):
        try:
            return _iso_cursor.to_shape(plain, like)
        except ValueError:
            raise CursorTypeError(f"{what} ({plain.isoformat()}) cannot be written like the "
                                  f"str cursor {like!r:.60}: it is not ISO-8601 text") from None
        except OverflowError:
            raise CursorError(f"{what} ({plain.isoformat()}) in the offset of {like!r:.60} "
                              "falls outside years 1 to 9999") from None
    micros = (plain - _EPOCH) // timedelta(microseconds=1)
    if kind == "int":
        return micros // 10**6
    if kind == "float":
        return micros / 10**6  # an int by an int: correctly rounded
    return Decimal(f"{micros}E-6")

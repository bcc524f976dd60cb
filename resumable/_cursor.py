"""Typed watermark cursors: which values may be cursors, how they are stored and compared.

How it works: a cursor is an ``int``, ``float``, ``str``, tz-aware ``datetime`` or
``date``. Each value is stored as JSON with its type beside it (``{"type": "datetime",
"cursor": "2026-01-01T00:00:00.000001+02:00"}``) and decoded back to an equal value of
the same type: datetimes keep their microseconds and UTC offset, floats their exact
bits (JSON keeps the shortest repr), ints any size. Values of different families (a
number against a string, a date against a datetime) are refused rather than compared,
because Python either raises or compares them meaninglessly.

What it does not do: ``Decimal``, naive datetimes (ambiguous across workers: refused),
``bool`` (an ``int`` by accident, refused). A datetime comes back with a fixed-offset
``timezone``, not the ``ZoneInfo`` it was written with: equal instant and offset.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any, Union

from resumable._errors import CursorTypeError

__all__ = ["CursorValue", "check_cursor", "decode_cursor", "encode_cursor", "family",
           "minus_lag"]

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


def minus_lag(value: CursorValue, lag: object) -> CursorValue:
    """``value - lag``: a timedelta for datetimes and dates, a number for numbers."""
    if isinstance(value, (datetime, date)):
        if not isinstance(lag, timedelta):
            raise CursorTypeError(f"lag must be a timedelta for a {type(value).__name__} "
                                  f"cursor, got {lag!r}")
        return value - lag
    if isinstance(value, (int, float)) and isinstance(lag, (int, float)) \
            and not isinstance(lag, bool):
        return value - lag
    raise CursorTypeError(f"lag {lag!r} cannot be taken from the {type(value).__name__} "
                          f"cursor {value!r:.60}")

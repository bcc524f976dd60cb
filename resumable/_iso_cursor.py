"""ISO-8601 text cursors: take a lag from a date or time written as a string, keeping its shape.

How it works: :func:`parse` matches the text against one regular expression (extended
format only: ``YYYY-MM-DD``, optionally ``T`` or a space, ``HH:MM``, optionally ``:SS``
and 3 or 6 fractional digits, then ``Z``, ``±HH:MM`` or nothing), builds the value (a
``date``, or a ``datetime`` with a fixed-offset ``timezone`` or naive) and its
:class:`Shape`, then writes the value back in that shape and refuses the text unless it
comes out identical. So a result written in the same shape (:func:`minus`,
:func:`to_shape`) sorts as text exactly as the instants do against rows of that shape
(for a naive shape: as the wall-clock times do). A value finer than its shape (a
seconds-precision text minus a lag with microseconds) is rounded down, and a date minus a
lag goes back whole days, rounding up (:func:`date_minus`: a 5-hour lag is one day): a
start a little early re-reads, never skips.

What it does not do: the basic format (``20260101T000000Z``), week or ordinal dates,
hours-only times, other numbers of fractional digits (nanoseconds), ``+HHMM``, ``+HH``,
``-00:00`` or lower-case ``t``/``z`` (all refused: they cannot be rewritten identically).
Naive text is wall-clock: a lag across a daylight-saving change is not corrected.

Known limits: years 1 to 9999 only (a result below year 1 is reported as ``None`` for
the caller to replace). Text in different shapes or offsets does not sort as time does:
only a result and rows of one shape compare correctly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

__all__ = ["Shape", "date_minus", "is_iso", "lowest", "minus", "parse", "to_shape", "write"]

_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
                  r"(?:([T ])([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{6}|[0-9]{3}))?)?"
                  r"(Z|[+-][0-9]{2}:[0-9]{2})?)?")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Shape:
    """How an ISO text is written: ``sep`` None for a date alone, else ``"T"`` or ``" "``;
    ``seconds`` False for ``HH:MM``; ``digits`` of fraction (0, 3 or 6); ``tz`` None for
    naive text; ``zulu`` for ``Z`` rather than ``+00:00``."""

    sep: str | None
    seconds: bool = True
    digits: int = 0
    tz: timezone | None = None
    zulu: bool = False


def parse(text: str) -> tuple[date | datetime, Shape]:
    """The value of ISO text and its shape; ``ValueError`` unless it round-trips exactly."""
    match = _ISO.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not ISO-8601 text: {text!r:.80}")
    year, month, day, sep, hour, minute, second, fraction, offset = match.groups()
    value: date | datetime
    try:
        if sep is None:
            value, shape = date(int(year), int(month), int(day)), Shape(None)
        else:
            tz = None
            if offset == "Z":
                tz = timezone.utc
            elif offset is not None:
                sign = -1 if offset[0] == "-" else 1
                tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:])))
            value = datetime(int(year), int(month), int(day), int(hour), int(minute),
                             int(second or 0), int((fraction or "0").ljust(6, "0")), tz)
            shape = Shape(sep, second is not None, len(fraction or ""), tz, offset == "Z")
    except ValueError as error:  # month 13, hour 24, offset +24:00, year 0 ...
        raise ValueError(f"not ISO-8601 text: {text!r:.80} ({error})") from None
    if write(value, shape) != text:  # e.g. offset +05:75, -00:00
        raise ValueError(f"ISO-8601 text {text!r:.80} cannot be written back identically")
    return value, shape


def is_iso(text: object) -> bool:
    """Whether :func:`parse` accepts ``text``."""
    try:
        parse(text)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def write(value: date | datetime, shape: Shape) -> str:
    """``value``'s fields in ``shape``, truncated (rounded down) to its precision; the
    offset written is ``shape``'s (the value is taken to be in it already)."""
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if shape.sep is None:
        return text
    assert isinstance(value, datetime)
    text += f"{shape.sep}{value.hour:02d}:{value.minute:02d}"
    if shape.seconds:
        text += f":{value.second:02d}"
    if shape.digits:
        text += "." + f"{value.microsecond:06d}"[:shape.digits]
    if shape.tz is None:
        return text
    if shape.zulu:
        return text + "Z"
    minutes = shape.tz.utcoffset(None) // timedelta(minutes=1)
    sign = "-" if minutes < 0 else "+"
    return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def date_minus(value: date, lag: timedelta) -> date | None:
    """``value`` minus ``lag`` rounded up to whole days (a 5-hour lag goes back one day);
    None below year 1."""
    days, rest = divmod(lag, _DAY)
    ordinal = value.toordinal() - days - (1 if rest else 0)
    return date.fromordinal(ordinal) if ordinal >= 1 else None


def minus(text: str, lag: timedelta) -> str | None:
    """ISO ``text`` minus ``lag`` in the same shape, rounded down; None below year 1."""
    value, shape = parse(text)
    if isinstance(value, datetime):
        try:
            return write(value - lag, shape)
        except OverflowError:
            return None
    result = date_minus(value, lag)
    return None if result is None else write(result, shape)


def lowest(text: str) -> str:
    """The smallest value in the shape of ISO ``text`` (year 1, at midnight)."""
    return write(datetime.min, parse(text)[1])


def to_shape(value: datetime, like: str) -> str:
    """Aware ``value`` written in the shape of ISO ``like``: converted to ``like``'s offset,
    or its own wall-clock time (its own date) when ``like`` is naive (a date); rounded
    down. ``OverflowError`` when the conversion leaves years 1 to 9999."""
    shape = parse(like)[1]
    if shape.tz is not None:
        value = value.astimezone(shape.tz)
    return write(value, shape)

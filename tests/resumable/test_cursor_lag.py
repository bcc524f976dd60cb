"""Lag on ISO-8601 text and date cursors, and coerce_to_cursor (resumable._cursor)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resumable import CursorError, CursorTypeError
from resumable._cursor import check_lag, coerce_to_cursor, minus_lag, window_start
from resumable._iso_cursor import parse

UTC = timezone.utc
NPT = timezone(timedelta(hours=5, minutes=45))
US = timedelta(microseconds=1)
H = timedelta(hours=1)


# -- the shapes table: each shape minus several lags, exact text back ------------------

@pytest.mark.parametrize(("text", "lag", "expected"), [
    # Z, seconds
    ("2026-01-01T00:00:00Z", timedelta(0), "2026-01-01T00:00:00Z"),
    ("2026-01-01T00:00:00Z", H, "2025-12-31T23:00:00Z"),
    ("2026-01-01T00:00:00Z", timedelta(seconds=90), "2025-12-31T23:58:30Z"),
    ("2026-01-01T00:00:00Z", US, "2025-12-31T23:59:59Z"),  # rounded down
    ("2026-01-01T00:00:00Z", timedelta(days=366), "2024-12-31T00:00:00Z"),
    # +05:45 and a negative offset: the offset text stays, wall time moves
    ("2026-03-01T05:45:00+05:45", 6 * H, "2026-02-28T23:45:00+05:45"),
    ("2026-03-01T05:45:00+05:45", timedelta(minutes=45, milliseconds=1),
     "2026-03-01T04:59:59+05:45"),
    ("2026-01-01T00:00:00-05:00", timedelta(days=1), "2025-12-31T00:00:00-05:00"),
    ("2026-01-01T00:00:00+00:00", H, "2025-12-31T23:00:00+00:00"),  # not turned into Z
    # naive: wall-clock arithmetic (no DST correction)
    ("2026-03-29T02:30:00", H, "2026-03-29T01:30:00"),
    ("2026-03-29T02:30:00", timedelta(seconds=1, microseconds=1), "2026-03-29T02:29:58"),
    # space separator
    ("2026-01-01 00:00:00", timedelta(seconds=1), "2025-12-31 23:59:59"),
    ("2026-01-01 00:00:00+05:45", H, "2025-12-31 23:00:00+05:45"),
    ("2026-01-01 12:00:00.000Z", US, "2026-01-01 11:59:59.999Z"),
    # milliseconds
    ("2026-01-01T00:00:00.000Z", US, "2025-12-31T23:59:59.999Z"),
    ("2026-01-01T00:00:00.000Z", timedelta(milliseconds=1), "2025-12-31T23:59:59.999Z"),
    ("2026-01-01T00:00:00.500Z", timedelta(microseconds=1500), "2026-01-01T00:00:00.498Z"),
    ("2026-01-01T00:00:00.123", timedelta(0), "2026-01-01T00:00:00.123"),
    # microseconds
    ("2026-01-01T00:00:00.000000+00:00", US, "2025-12-31T23:59:59.999999+00:00"),
    ("2026-01-01T00:00:00.654321Z", timedelta(minutes=1), "2025-12-31T23:59:00.654321Z"),
    # minutes only
    ("2026-01-01T10:00", timedelta(seconds=1), "2026-01-01T09:59"),
    ("2026-01-01T10:00", timedelta(minutes=30), "2026-01-01T09:30"),
    ("2026-01-01T10:00", timedelta(0), "2026-01-01T10:00"),
    ("2026-01-01 10:00Z", timedelta(seconds=59), "2026-01-01 09:59Z"),
    # a date alone: whole days, rounding up
    ("2026-01-01", timedelta(0), "2026-01-01"),
    ("2026-01-01", 5 * H, "2025-12-31"),
    ("2026-01-01", 24 * H, "2025-12-31"),
    ("2026-01-01", 24 * H + US, "2025-12-30"),
    ("2026-01-01", 48 * H, "2025-12-30"),
    ("2024-03-01", timedelta(days=1), "2024-02-29"),
])
def test_a_lag_on_iso_text_keeps_its_shape(text: str, lag: timedelta, expected: str) -> None:
    assert minus_lag(text, lag) == expected
    assert window_start(text, lag) == expected


# -- the property: rounded down by less than one unit, and sorting as the times do -----

ZONES = st.sampled_from([UTC, NPT, timezone(timedelta(hours=-3, minutes=-30)), None])
# (separator, isoformat timespec or "date", zulu, one unit of the shape's precision)
SHAPES = st.sampled_from([
    ("T", "seconds", True, timedelta(seconds=1)),
    (" ", "seconds", False, timedelta(seconds=1)),
    ("T", "milliseconds", True, timedelta(milliseconds=1)),
    (" ", "microseconds", False, US),
    ("T", "minutes", False, timedelta(minutes=1)),
    ("T", "date", False, timedelta(days=1)),
])
DATETIMES = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31))


def iso(d: datetime, sep: str, timespec: str, zulu: bool) -> str:
    """``d`` in a shape, independently of the code under test (isoformat truncates)."""
    if timespec == "date":
        return d.date().isoformat()
    text = d.isoformat(sep, timespec)
    return text[:-6] + "Z" if zulu and text.endswith("+00:00") else text


def floored(d: datetime, sep: str, timespec: str, zulu: bool) -> datetime:
    """``d`` as its text in the shape means it (midnight for a date)."""
    text = iso(d, sep, timespec, zulu)
    back = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return back.replace(tzinfo=d.tzinfo)


@given(DATETIMES, ZONES, SHAPES,
       st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)), DATETIMES)
def test_the_lagged_text_is_rounded_down_by_less_than_a_unit_and_sorts_as_time(
        naive: datetime, zone: timezone | None, shape: tuple[str, str, bool, timedelta],
        lag: timedelta, other_naive: datetime) -> None:
    sep, timespec, zulu, unit = shape
    zulu = zulu and zone is UTC
    d = floored(naive.replace(tzinfo=zone), sep, timespec, zulu)
    text = iso(d, sep, timespec, zulu)
    result = minus_lag(text, lag)
    assert isinstance(result, str)
    back = floored(datetime.fromisoformat(result.replace("Z", "+00:00")).replace(
        tzinfo=zone), sep, timespec, zulu)
    assert iso(back, sep, timespec, zulu) == result  # the same shape
    assert d - lag - unit < back <= d - lag
    other = floored(other_naive.replace(tzinfo=zone), sep, timespec, zulu)
    other_text = iso(other, sep, timespec, zulu)
    assert (other_text < result) == (other < back)
    assert (other_text == result) == (other == back)


# -- floor and below year 1 ------------------------------------------------------------

def test_the_floor_is_compared_as_text() -> None:
    floor = "2025-12-15T00:00:00Z"
    assert minus_lag("2026-01-01T00:00:00Z", timedelta(days=30), floor) == floor
    assert minus_lag("2026-01-01T00:00:00Z", timedelta(days=1), floor) == "2025-12-31T00:00:00Z"
    assert window_start("2025-12-01T00:00:00Z", None, floor) == floor
    assert minus_lag("2026-01-01", timedelta(days=30), "2025-12-15") == "2025-12-15"


@pytest.mark.parametrize(("text", "lag", "floor", "expected"), [
    ("0001-01-01T00:30:00Z", H, None, "0001-01-01T00:00:00Z"),
    ("0001-01-01T00:30:00Z", H, "0001-01-01T00:10:00Z", "0001-01-01T00:10:00Z"),
    ("0001-01-01 00:30:00.000+05:45", timedelta.max, None, "0001-01-01 00:00:00.000+05:45"),
    ("0001-01-01T00:30", H, None, "0001-01-01T00:00"),
    ("0001-01-01", US, None, "0001-01-01"),
    ("0001-01-02", timedelta(days=1), None, "0001-01-01"),  # in range: not the floor
    ("0001-01-02", timedelta.max, "0001-01-02", "0001-01-02"),
    ("9999-12-31T23:59:59.999999Z", timedelta.max, None, "0001-01-01T00:00:00.000000Z"),
])
def test_a_result_below_year_1_is_the_floor_or_the_smallest_of_the_shape(
        text: str, lag: timedelta, floor: str | None, expected: str) -> None:
    assert minus_lag(text, lag, floor) == expected


# -- text that is not ISO-8601, or cannot be written back identically -----------------

@pytest.mark.parametrize("text", [
    "20260101T000000Z", "2026-01-01T00:00:00.1Z", "2026-01-01T00:00:00.123456789Z",
    "2026-13-01", "2026-02-30", "2026-01-01T24:00:00", "2026-01-01T00:00:60",
    "2026-01-01T00:00:00+0545", "2026-01-01T00:00:00+05", "2026-01-01T00:00:00-00:00",
    "2026-01-01T00:00:00+05:75", "2026-01-01T00:00:00+24:00", "2026-W01-1", "2026-001",
    "0000-01-01", "2026-01-01t00:00:00z", "2026-01-01T10", "2026-1-1", "+12026-01-01",
    " 2026-01-01", "2026-01-01\n", "\u0662\u0660\u0662\u0666-01-01", "abc", "",
    "2026-01-01T00:00:00.000+05:45 ",
])
def test_text_that_is_not_iso_is_refused_naming_it(text: str) -> None:
    with pytest.raises(CursorTypeError, match="needs ISO-8601 text") as caught:
        minus_lag(text, H)
    assert repr(text)[:40] in str(caught.value)
    with pytest.raises(CursorTypeError, match="needs ISO-8601 text"):
        check_lag(H, like=text)
    with pytest.raises(CursorTypeError, match=r"data_interval_start .* not ISO-8601 text"):
        coerce_to_cursor(datetime(2026, 1, 1, tzinfo=UTC), text, "data_interval_start")
    with pytest.raises(ValueError):
        parse(text)


def test_a_number_lag_on_text_is_refused() -> None:
    with pytest.raises(CursorTypeError, match="lag 1 cannot be taken from the str"):
        minus_lag("2026-01-01T00:00:00Z", 1)
    with pytest.raises(CursorTypeError, match="lag 1 cannot be taken from the str"):
        minus_lag("a", 1)


# -- check_lag at configuration time ---------------------------------------------------

@pytest.mark.parametrize("like", ["2026-01-01T00:00:00Z", "2026-01-01 00:00:00.123456",
                                  "2026-01-01T00:00+05:45", "2026-01-01"])
def test_check_lag_takes_a_timedelta_for_iso_text(like: str) -> None:
    check_lag(H, like=like)
    check_lag(timedelta(0), like=like)
    check_lag(timedelta.max, like=like)


@pytest.mark.parametrize(("lag", "like", "error", "match"), [
    (1, "2026-01-01T00:00:00Z", CursorTypeError, "lag 1 cannot be taken from the str"),
    (0.5, "2026-01-01", CursorTypeError, "lag 0.5 cannot be taken from the str"),
    (Decimal(1), "2026-01-01", CursorTypeError, "cannot be taken from the str"),
    (1, "a", CursorTypeError, "lag 1 cannot be taken from the str"),
    (H, "a", CursorTypeError, "lag on a str cursor needs ISO-8601 text.*'a'"),
    (H, "20260101T000000Z", CursorTypeError, "needs ISO-8601 text.*'20260101T000000Z'"),
    (-H, "2026-01-01T00:00:00Z", ValueError, "lag must not be negative"),
    ("1h", "2026-01-01T00:00:00Z", CursorTypeError, "cannot be taken from the str"),
])
def test_check_lag_refuses_a_lag_a_text_cursor_cannot_take(
        lag: Any, like: str, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        check_lag(lag, like=like)


# -- date cursors: whole days, rounding up ---------------------------------------------

@pytest.mark.parametrize(("lag", "expected"), [
    (timedelta(0), date(2026, 1, 1)),
    (US, date(2025, 12, 31)),
    (5 * H, date(2025, 12, 31)),
    (24 * H, date(2025, 12, 31)),
    (24 * H + US, date(2025, 12, 30)),
    (48 * H, date(2025, 12, 30)),
    (timedelta(days=365), date(2025, 1, 1)),
])
def test_a_lag_on_a_date_goes_back_whole_days_rounding_up(lag: timedelta,
                                                          expected: date) -> None:
    assert minus_lag(date(2026, 1, 1), lag) == expected
    assert minus_lag(date(2026, 1, 1).isoformat(), lag) == expected.isoformat()


def test_a_date_below_year_1_is_the_floor_or_date_min() -> None:
    assert minus_lag(date(1, 1, 1), 5 * H) == date.min
    assert minus_lag(date(1, 1, 2), 5 * H) == date.min
    assert minus_lag(date(1, 1, 2), timedelta.max) == date.min
    assert minus_lag(date(1, 1, 2), timedelta.max, date(1, 1, 2)) == date(1, 1, 2)
    assert minus_lag(date(2026, 1, 2), 5 * H, date(2026, 1, 2)) == date(2026, 1, 2)


def test_datetime_lag_is_unchanged() -> None:
    d = datetime(2026, 1, 1, tzinfo=UTC)
    assert minus_lag(d, 5 * H) == datetime(2025, 12, 31, 19, tzinfo=UTC)
    assert minus_lag(datetime.min.replace(tzinfo=UTC), H) == datetime.min.replace(tzinfo=UTC)


# -- coerce_to_cursor ------------------------------------------------------------------

class SubDateTime(datetime):
    """A datetime subclass, as pendulum's DateTime is."""


KTM = SubDateTime(2026, 1, 1, 5, 45, 1, 123456, tzinfo=ZoneInfo("Asia/Kathmandu"))
EPOCH_PLUS = datetime(1970, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
EPOCH_MINUS = datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)


@pytest.mark.parametrize(("value", "like", "expected"), [
    (KTM, None, datetime(2026, 1, 1, 5, 45, 1, 123456, tzinfo=NPT)),
    (KTM, datetime(2000, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 5, 45, 1, 123456, tzinfo=NPT)),
    (KTM, date(2000, 1, 1), date(2026, 1, 1)),  # its own zone's date (UTC: Dec 31)
    (KTM, "2000-01-01T00:00:00Z", "2026-01-01T00:00:01Z"),
    (KTM, "2000-01-01 00:00:00.000000+00:00", "2026-01-01 00:00:01.123456+00:00"),
    (KTM, "2000-01-01T00:00:00.000-05:00", "2025-12-31T19:00:01.123-05:00"),
    (KTM, "2000-01-01T00:00:00.000+05:45", "2026-01-01T05:45:01.123+05:45"),
    (KTM, "2000-01-01T00:00", "2026-01-01T05:45"),  # naive: its own wall-clock time
    (KTM, "2000-01-01 00:00Z", "2026-01-01 00:00Z"),
    (KTM, "2000-01-01", "2026-01-01"),  # its own zone's date
    (KTM, 0, 1767225601),
    (KTM, 0.0, 1767225601.123456),
    (KTM, Decimal(0), Decimal("1767225601.123456")),
    (EPOCH_PLUS, 0, 0),
    (EPOCH_MINUS, 0, -1),  # floored
    (EPOCH_MINUS, 0.0, -0.5),
    (EPOCH_MINUS, Decimal("1.5"), Decimal("-0.500000")),
    (datetime(2026, 1, 1, tzinfo=UTC), Decimal(0), Decimal("1767225600.000000")),
])
def test_coerce_to_cursor_gives_the_family_of_like(value: datetime, like: Any,
                                                   expected: Any) -> None:
    result = coerce_to_cursor(value, like, "data_interval_start")
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, datetime):
        assert isinstance(result, datetime)
        assert type(result.tzinfo) is timezone
        assert result.utcoffset() == expected.utcoffset()
    if isinstance(expected, Decimal):
        assert str(result) == str(expected)


def test_coerce_to_cursor_takes_a_pendulum_datetime() -> None:
    pendulum = pytest.importorskip("pendulum")
    value = pendulum.datetime(2026, 1, 1, 5, 45, tz="Asia/Kathmandu")
    result = coerce_to_cursor(value, None, "data_interval_start")
    assert type(result) is datetime and type(result.tzinfo) is timezone
    assert result == value and result.utcoffset() == NPT.utcoffset(None)
    day = coerce_to_cursor(value, date(2000, 1, 1), "data_interval_start")
    assert type(day) is date and day == date(2026, 1, 1)
    assert coerce_to_cursor(value, "2000-01-01T00:00:00Z", "x") == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(("value", "like", "error", "match"), [
    (datetime(2026, 1, 1), None, CursorTypeError, "data_interval_start must be a tz-aware"),
    (date(2026, 1, 1), None, CursorTypeError, "data_interval_start must be a tz-aware"),
    (datetime(2026, 1, 1, tzinfo=UTC), "abc", CursorTypeError,
     "data_interval_start .* 'abc': it is not ISO-8601 text"),
    (datetime(2026, 1, 1, tzinfo=UTC), True, CursorTypeError, "bool"),
    (datetime(2026, 1, 1, tzinfo=UTC), [1], CursorTypeError, "list"),
    (datetime.min.replace(tzinfo=UTC), "2000-01-01T00:00:00-05:00", CursorError,
     "outside years 1 to 9999"),
])
def test_coerce_to_cursor_refuses(value: Any, like: Any, error: type[Exception],
                                  match: str) -> None:
    with pytest.raises(error, match=match):
        coerce_to_cursor(value, like, "data_interval_start")

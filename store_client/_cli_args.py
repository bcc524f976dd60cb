"""Checks of the ``resumable`` command's arguments, before anything connects or writes.

How it works: each function takes the text a person typed (or the number argparse made
of it) and returns the value the store client wants, or raises :class:`UsageError`
with one line that names the flag or argument and says what to type instead. The
command-line arguments and ``RESUMABLE_*`` environment variables are checked to be
UTF-8 first (Python hands over undecodable bytes as lone surrogates, which no store can
hold); JSON values are parsed with the line and column of the first mistake; retentions
(``90s``, ``15m``, ``12h``, ``7d``, ``never``) are refused when zero or when they reach
past the year 9999; map indices and batch sizes are bounded as the stores bound them.

What it does not do: the store's own checks (key length, value size, scope fields);
those run again in the store client and fail the same way, with exit status 2.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from store_client._client import MAX_BATCH_SIZE
from store_client._scopes import MAX_MAP_INDEX
from store_client._values import NEVER_EXPIRE, format_duration

__all__ = ["UsageError", "check_batch_size", "check_environment", "check_map_index",
           "check_utf8", "clip", "parse_retention", "parse_value"]

_DURATION: Final = re.compile(r"([0-9]+)([smhd])", re.ASCII)
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: 10**12 seconds is over 31,000 years: a count this long always passes the year 9999.
_MAX_COUNT_DIGITS: Final = 12
_ENV_PREFIX: Final = "RESUMABLE_"
_INT_DIGITS: Final[int] = getattr(sys, "get_int_max_str_digits", lambda: 4300)()


class UsageError(Exception):
    """A mistake in the command line or its environment; exit status 2."""


def clip(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut to about ``limit`` characters: safe in a one-line message."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}...'"


def _raw(text: str) -> str:
    """The bytes a person passed, as Python shows bytes (``b'caf\\xe9'``)."""
    try:
        shown = repr(os.fsencode(text))
    except UnicodeEncodeError:  # a lone surrogate that did not come from bytes
        shown = ascii(text)
    return shown if len(shown) <= 60 else f"{shown[:60]}...'"


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_utf8(argv: Sequence[str]) -> None:
    """Refuse an argument that is not valid UTF-8, naming it by flag or position."""
    for position, arg in enumerate(argv, start=1):
        if _is_utf8(arg):
            continue
        flag, equals, _ = arg.partition("=")
        before = argv[position - 2] if position > 1 else ""
        if arg.startswith("--") and equals:
            which = f"the value of {flag}"
        elif before.startswith("-") and len(before) > 1 and "=" not in before:
            which = f"argument {position} (after {before})"
        else:
            which = f"argument {position}"
        raise UsageError(f"{which} is not valid UTF-8: {_raw(arg)}; pass UTF-8 text")


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse a ``RESUMABLE_*`` environment variable that is not valid UTF-8."""
    for name in sorted(environ):
        if name.startswith(_ENV_PREFIX) and not _is_utf8(environ[name]):
            raise UsageError(f"environment variable {name} is not valid UTF-8: "
                             f"{_raw(environ[name])}")


def parse_value(text: str, *, as_string: bool) -> Any:
    """VALUE as JSON (or as it is, with ``--string``); a mistake says where it is."""
    if as_string:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        if exc.pos == 0 and exc.msg == "Expecting value":  # not JSON at all: plain text?
            hint = (f"; to store text, quote it ({clip(json.dumps(text))}) or pass --string"
                    if len(text) <= 40 and text.isprintable() else
                    "; to store text, pass --string")
        else:
            hint = ""
        raise UsageError(f"VALUE {clip(text)} is not JSON: {where}{hint}") from None
    except RecursionError:
        raise UsageError(f"VALUE {clip(text)} nests lists and objects too deeply to "
                         "read") from None
    except ValueError:  # the only other one: an integer too long to convert
        raise UsageError(f"VALUE {clip(text)} holds a number of more than {_INT_DIGITS} "
                         "digits; store it as a string (--string)") from None


def parse_retention(text: str | None, *, now: datetime | None = None) -> timedelta | None:
    """``--retention``: ``90s``, ``15m``, ``12h``, ``7d`` or ``never``; None if not given.

    Zero is refused, and so is a retention that would make a write made ``now`` expire
    after the year 9999 (``never`` is the way to say "keep it").
    """
    if text is None:
        return None
    cleaned = text.strip()
    if cleaned.lower() == "never":
        return NEVER_EXPIRE
    match = _DURATION.fullmatch(cleaned)
    if match is None:
        raise UsageError(f"--retention {clip(text)}: use a whole number with s, m, h or d "
                         "(e.g. 90s, 15m, 12h, 7d), or 'never'")
    digits, unit = match.groups()
    past_9999 = UsageError(f"--retention {clip(text)} reaches past the year 9999; use "
                           "'never' for values that never expire")
    if len(digits.lstrip("0")) > _MAX_COUNT_DIGITS:
        raise past_9999
    count = int(digits)
    if count == 0:
        raise UsageError(f"--retention {clip(text)}: a retention must be more than 0 "
                         "(use 'never' for values that never expire)")
    try:
        retention = timedelta(seconds=count * _UNIT_SECONDS[unit])
    except OverflowError:  # over 999,999,999 days
        raise past_9999 from None
    try:
        (now or datetime.now(timezone.utc)) + retention
    except OverflowError:
        shown = format_duration(retention)
        same = shown == f"{count}{unit}"
        raise UsageError(f"--retention {clip(text)}{'' if same else f' ({shown})'} reaches "
                         "past the year 9999; use 'never' for values that never expire"
                         ) from None
    return retention


def check_map_index(map_index: int) -> int:
    """``--map-index``: -1 (not mapped) or 0 to ``MAX_MAP_INDEX``."""
    if not -1 <= map_index <= MAX_MAP_INDEX:
        raise UsageError(f"--map-index {map_index}: map_index must be -1 (not mapped) or "
                         f"0 to {MAX_MAP_INDEX}")
    return map_index


def check_batch_size(batch_size: int) -> int:
    """``--batch-size``: 0 (one statement) to ``MAX_BATCH_SIZE``."""
    if not 0 <= batch_size <= MAX_BATCH_SIZE:
        raise UsageError(f"--batch-size must be 0 or more and at most {MAX_BATCH_SIZE}, got "
                         f"{batch_size}")
    return batch_size

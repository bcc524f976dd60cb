"""Validation and encoding of keys, values and retentions: the one place that decides.

How it works: a value is checked by pydantic's ``JsonValue`` (which refuses sets, tuples,
bytes, datetimes, objects and non-string dict keys), then encoded by one shared
``json.JSONEncoder(allow_nan=False, sort_keys=True)``, which refuses NaN and +/-Inf
anywhere in the structure. Plain values (a scalar, or a flat list or str-keyed dict of
scalars, of exact built-in types) skip pydantic: the answer is known without it. The
canonical encoding (sorted keys, no spaces) is what every backend
stores and what ``compare_and_set`` compares, so equal values always compare equal.

What it does not do: a top-level ``None`` is refused (``get`` returns ``None`` for an
absent key, so storing it would be ambiguous); a ``null`` nested inside a list or dict
is ordinary JSON and allowed. Dict key order is not preserved (keys come back sorted).
``1`` and ``1.0`` encode differently, so ``compare_and_set`` treats them as different.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import JsonValue, TypeAdapter, ValidationError

from store_client._errors import (
    InvalidKeyError,
    InvalidRetentionError,
    InvalidValueError,
    RetentionTypeError,
    StoreError,
    ValueTooLargeError,
)

__all__ = [
    "MAX_KEY_LENGTH",
    "NEVER_EXPIRE",
    "check_text",
    "decode_value",
    "encode_value",
    "expires_at_for",
    "format_duration",
    "is_never_expire",
    "validate_key",
    "validate_retention",
]

MAX_KEY_LENGTH: Final = 250
#: How deeply lists and dicts may nest in a value (pydantic's validation limit).
MAX_DEPTH: Final = 254

#: Retention that never expires. The very object Airflow's ``airflow.sdk`` exports.
NEVER_EXPIRE: Final = timedelta.max

_MAX_INT_DIGITS: Final[int] = getattr(sys, "get_int_max_str_digits", lambda: 4300)()
_JSON_VALUE: Final = TypeAdapter[JsonValue](JsonValue)


def check_text(value: object, what: str, limit: int, error: type[StoreError]) -> str:
    """Return ``value`` if every backend can hold it as a key or a scope field.

    A non-empty ``str`` of at most ``limit`` characters, without NUL (PostgreSQL refuses
    it in text) and without lone surrogates (not encodable as UTF-8). ``error`` is raised
    otherwise, naming ``what``. The one definition of a valid identifier: memory, SQLite,
    PostgreSQL and Airflow give the same verdict because none is asked.
    """
    if not isinstance(value, str):
        raise error(f"{what} must be a str, got {type(value).__name__}: {value!r:.80}")
    if not value:
        raise error(f"{what} must not be empty")
    if len(value) > limit:
        raise error(f"{what} is {len(value)} characters, over the limit of {limit}: "
                    f"{value[:40]!r}...")
    if "\x00" in value:
        raise error(f"{what} {value!r:.80} contains a NUL character, which no store can hold")
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise error(f"{what} {value!r:.80} is not valid Unicode: a lone surrogate at "
                        f"position {exc.start} (was it decoded from bytes that are not "
                        "UTF-8?)") from None
    return value


def validate_key(key: object) -> str:
    """Return ``key`` if it is a valid key (see :func:`check_text`; 250 characters at most)."""
    if type(key) is str and 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() \
            and "\x00" not in key:
        return key  # the common case, decided without building a message
    return check_text(key, "key", MAX_KEY_LENGTH, InvalidKeyError)


def _locate(value: object, loc: tuple[int | str, ...]) -> tuple[str, object]:
    """Follow a pydantic error location into ``value``: (JSON path, offending part).

    pydantic's ``JsonValue`` locations interleave union tags with the path (``('dict',
    'a', 'list', 0)``); a tag is skipped when it names the container it stands before.
    """
    node: Any = value
    path = ""
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if part == _TAG_OF.get(type(node)):
            continue
        if part == "[key]" or (parts and parts[0] == "[key]"):
            break
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        path += f"[{part!r}]"
    return (f" at {path}" if path else ""), node


_TAG_OF: Final[dict[type, str]] = {dict: "dict", list: "list"}


_ENCODER: Final = json.JSONEncoder(allow_nan=False, sort_keys=True, separators=(",", ":"))
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def _is_plain(value: object) -> bool:
    """True for values JSON surely holds, decided without pydantic: a str, int, float or
    bool, or a flat list of them, or a flat dict of them under str keys (exact types, no
    subclasses). NaN, infinity and huge ints are still refused by the encoder. Anything
    else is checked by pydantic."""
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is dict:
        return all(type(k) is str and type(v) in _SCALARS
                   for k, v in value.items())  # type: ignore[attr-defined]
    if kind is list:
        return all(type(v) in _SCALARS for v in value)  # type: ignore[attr-defined]
    return False


def encode_value(key: str, value: object, max_bytes: int = 0) -> str:
    """Validate ``value`` for ``key`` and return its canonical JSON text.

    ``max_bytes`` bounds the UTF-8 size of the encoding; 0 means no limit.
    """
    if value is None:
        raise InvalidValueError(
            f"value for key {key!r} is None; store a JSON value, or delete the key"
        )
    if not _is_plain(value):
        try:
            _JSON_VALUE.validate_python(value, strict=True)
        except ValidationError as exc:
            raise _not_json(key, value, exc) from None
    try:
        text = _ENCODER.encode(value)
    except ValueError as exc:
        if "integer string conversion" in str(exc):
            raise InvalidValueError(
                f"value for key {key!r} holds an integer of more than "
                f"{_MAX_INT_DIGITS} digits, which JSON text here cannot hold; "
                "store it as a string") from None
        raise InvalidValueError(
            f"value for key {key!r} contains NaN or infinity, which JSON cannot hold"
        ) from None
    if max_bytes:
        size = len(text) if text.isascii() else len(text.encode())
        if size > max_bytes:
            raise ValueTooLargeError(key, size, max_bytes)
    return text


def _not_json(key: str, value: object, exc: ValidationError) -> InvalidValueError:
    """The message for a value pydantic refused: where, and what is wrong there."""
    error = exc.errors()[0]
    if error["type"] == "recursion_depth_exceeded":
        return InvalidValueError(
            f"value for key {key!r} nests lists and dicts too deeply (at most "
            f"{MAX_DEPTH} levels)")
    loc = tuple(error["loc"])
    where, bad = _locate(value, loc)
    if loc and loc[-1] == "[key]":
        return InvalidValueError(
            f"value for key {key!r} has a non-string dict key{where}: {error['input']!r:.60}")
    return InvalidValueError(f"value for key {key!r} is not JSON: {type(bad).__name__}{where}")


def decode_value(text: str) -> JsonValue:
    """Decode JSON text written by :func:`encode_value`."""
    result: JsonValue = json.loads(text)
    return result


def is_never_expire(retention: timedelta) -> bool:
    """True for ``NEVER_EXPIRE`` and any equal copy (pickling or deepcopy breaks identity)."""
    return retention == NEVER_EXPIRE


def format_duration(duration: timedelta) -> str:
    """A duration as a person writes it: ``90s``, ``15m``, ``12h``, ``7d``, ``1d12h``, ``-1d``.

    Whole units only, largest first; sub-second remainders as ``ms`` (``1.5s`` is
    ``1s500ms``). ``NEVER_EXPIRE`` (and any equal copy) is ``never``.
    """
    if is_never_expire(duration):
        return "never"
    sign, rest = ("-", -duration) if duration < timedelta(0) else ("", duration)
    millis = rest.days * 86_400_000 + rest.seconds * 1000 + rest.microseconds // 1000
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000),
                       ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return sign + ("".join(parts) or "0s")


def validate_retention(retention: object) -> timedelta | None:
    """Return ``retention`` if it is ``None`` or a positive ``timedelta``."""
    if retention is None:
        return None
    if not isinstance(retention, timedelta):
        raise RetentionTypeError(
            f"retention must be a datetime.timedelta, NEVER_EXPIRE or None, "
            f"got {type(retention).__name__}: {retention!r:.60}"
        )
    if retention <= timedelta(0):
        raise InvalidRetentionError(
            f"retention must be positive, got {format_duration(retention)}")
    return retention


def expires_at_for(
    retention: object, *, now: datetime, default_retention_days: int
) -> datetime | None:
    """Compute the UTC expiry of a write made at ``now``; ``None`` means never.

    ``retention=None`` applies ``default_retention_days`` (0 = never expires).
    """
    checked = validate_retention(retention)
    if checked is None:
        if default_retention_days == 0:
            return None
        checked = timedelta(days=default_retention_days)
    if is_never_expire(checked):
        return None
    try:
        return now + checked
    except OverflowError:
        raise InvalidRetentionError(
            f"retention {format_duration(checked)} reaches past the year 9999; "
            "use NEVER_EXPIRE") from None

"""Validation and encoding of keys, values and retentions: the one place that decides.

How it works: a value is checked by pydantic's ``JsonValue`` (which refuses sets, tuples,
bytes, datetimes, objects and non-string dict keys), then encoded with
``json.dumps(allow_nan=False, sort_keys=True)``, which refuses NaN and +/-Inf anywhere
in the structure. The canonical encoding (sorted keys, no spaces) is what every backend
stores and what ``compare_and_set`` compares, so equal values always compare equal.

What it does not do: a top-level ``None`` is refused (``get`` returns ``None`` for an
absent key, so storing it would be ambiguous); a ``null`` nested inside a list or dict
is ordinary JSON and allowed. Dict key order is not preserved (keys come back sorted).
``1`` and ``1.0`` encode differently, so ``compare_and_set`` treats them as different.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import JsonValue, TypeAdapter, ValidationError

from store_client._errors import (
    InvalidKeyError,
    InvalidRetentionError,
    InvalidValueError,
    RetentionTypeError,
    ValueTooLargeError,
)

__all__ = [
    "MAX_KEY_LENGTH",
    "NEVER_EXPIRE",
    "decode_value",
    "encode_value",
    "expires_at_for",
    "is_never_expire",
    "validate_key",
    "validate_retention",
]

MAX_KEY_LENGTH: Final = 250

#: Retention that never expires. The very object Airflow's ``airflow.sdk`` exports.
NEVER_EXPIRE: Final = timedelta.max

_JSON_VALUE: Final = TypeAdapter[JsonValue](JsonValue)


def validate_key(key: object) -> str:
    """Return ``key`` if it is a non-empty ``str`` of at most 250 characters."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"key must be a str, got {type(key).__name__}: {key!r:.80}")
    if not key:
        raise InvalidKeyError("key must not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKeyError(
            f"key {key[:40]!r}... is {len(key)} characters, over the limit of {MAX_KEY_LENGTH}"
        )
    return key


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


def encode_value(key: str, value: object, max_bytes: int = 0) -> str:
    """Validate ``value`` for ``key`` and return its canonical JSON text.

    ``max_bytes`` bounds the UTF-8 size of the encoding; 0 means no limit.
    """
    if value is None:
        raise InvalidValueError(
            f"value for key {key!r} is None; store a JSON value, or delete the key"
        )
    try:
        _JSON_VALUE.validate_python(value, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        where, bad = _locate(value, loc)
        if loc and loc[-1] == "[key]":
            raise InvalidValueError(
                f"value for key {key!r} has a non-string dict key{where}: {error['input']!r:.60}"
            ) from None
        raise InvalidValueError(
            f"value for key {key!r} is not JSON: {type(bad).__name__}{where}"
        ) from None
    try:
        text = json.dumps(value, allow_nan=False, sort_keys=True, separators=(",", ":"))
    except ValueError:
        raise InvalidValueError(
            f"value for key {key!r} contains NaN or infinity, which JSON cannot hold"
        ) from None
    if max_bytes:
        size = len(text) if text.isascii() else len(text.encode())
        if size > max_bytes:
            raise ValueTooLargeError(key, size, max_bytes)
    return text


def decode_value(text: str) -> JsonValue:
    """Decode JSON text written by :func:`encode_value`."""
    result: JsonValue = json.loads(text)
    return result


def is_never_expire(retention: timedelta) -> bool:
    """True for ``NEVER_EXPIRE`` and any equal copy (pickling or deepcopy breaks identity)."""
    return retention == NEVER_EXPIRE


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
        raise InvalidRetentionError(f"retention must be positive, got {retention!r}")
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
            f"retention {checked!r} reaches past the year 9999; use NEVER_EXPIRE"
        ) from None

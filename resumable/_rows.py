"""How ``@watermark`` reads a row: one field (or a dotted path) and the whole row as JSON.

How it works: :func:`read_field` looks ``path`` up in ``row`` one level at a time with
:func:`lookup`, which knows these shapes:

- a mapping (``dict``, SQLAlchemy ``RowMapping``, any ``collections.abc.Mapping``):
  ``row[name]``;
- a ``sqlite3.Row``: ``row[name]`` when ``name`` is one of its ``keys()``;
- a SQLAlchemy ``Row`` (anything with a ``_mapping``): ``row._mapping[name]``;
- a namedtuple: one of its ``_fields``;
- anything else (dataclass instance, pydantic model, plain object): ``getattr``.

A dotted path (``"data.updated_at"``, as dlt spells a nested cursor) reads
``row["data"]["updated_at"]``, each level in whichever shape it has. A name that itself
contains a dot is still reachable: at each level the longest prefix of the path that
names a field wins, so a row with an ``"data.updated_at"`` key is read by that key. A
``None`` anywhere along the path reads as missing (:data:`MISSING`), like an absent field.

:func:`row_json` is the canonical JSON of a whole row (keys sorted): the same data gives
the same text whatever its shape, a ``dict`` or a ``sqlite3.Row`` or a dataclass with the
same columns, nested rows included. Values JSON cannot hold are written as ``str(value)``.

What it does not do: index lists (``"items.0.id"``), JSONPath, aliases of pydantic fields
(fields are read by their Python names), or tell a row's column apart from a method of
the same name on a plain object. Nested plain objects (not rows of a shape above) are
hashed as ``str(value)``.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

__all__ = ["MISSING", "as_dict", "canonical_json", "is_row", "lookup", "read_field",
           "row_json"]


class _Missing:
    """The marker of an absent (or None) field: never a row's value."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _is_namedtuple(value: object) -> bool:
    return isinstance(value, tuple) and isinstance(getattr(value, "_fields", None), tuple)


def _is_pydantic(value: object) -> bool:
    return callable(getattr(value, "model_dump", None)) and \
        hasattr(type(value), "model_fields")


def _sqlalchemy_mapping(value: object) -> Mapping[Any, Any] | None:
    mapping = getattr(value, "_mapping", None)
    return mapping if isinstance(mapping, Mapping) else None


def lookup(obj: object, name: str) -> Any:
    """``obj``'s field ``name`` in whichever shape ``obj`` has, or :data:`MISSING`."""
    if isinstance(obj, Mapping):
        return obj.get(name, MISSING)
    if isinstance(obj, sqlite3.Row):
        # ``name in row`` would search its values, not its column names
        return obj[name] if name in obj.keys() else MISSING  # noqa: SIM118
    if (mapping := _sqlalchemy_mapping(obj)) is not None:
        return mapping.get(name, MISSING)
    if _is_namedtuple(obj):
        return getattr(obj, name) if name in obj._fields else MISSING  # type: ignore[attr-defined]
    return getattr(obj, name, MISSING)


def _resolve(obj: object, path: str) -> Any:
    value = lookup(obj, path)
    if value is not MISSING:
        return value
    cut = len(path)
    while (cut := path.rfind(".", 0, cut)) > 0:  # the longest prefix naming a field
        head = lookup(obj, path[:cut])
        if head is not MISSING:
            return MISSING if head is None else _resolve(head, path[cut + 1:])
    return MISSING


def read_field(row: object, path: str) -> Any:
    """``row``'s field ``path`` (dots go down a level), or :data:`MISSING` if absent or
    None."""
    value = _resolve(row, path)
    return MISSING if value is None else value


def is_row(value: object) -> bool:
    """Whether ``value`` has one of the row shapes :func:`as_dict` knows (not plain
    objects): a mapping, ``sqlite3.Row``, SQLAlchemy row, namedtuple, dataclass instance
    or pydantic model."""
    return (isinstance(value, (Mapping, sqlite3.Row)) or _is_namedtuple(value)
            or _sqlalchemy_mapping(value) is not None
            or (dataclasses.is_dataclass(value) and not isinstance(value, type))
            or _is_pydantic(value))


def as_dict(value: object) -> dict[Any, Any] | None:
    """``value``'s fields as a dict (one level) if :func:`is_row`, else None."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, sqlite3.Row):
        return dict(zip(value.keys(), value, strict=True))
    if (mapping := _sqlalchemy_mapping(value)) is not None:
        return dict(mapping)
    if _is_namedtuple(value):
        return dict(value._asdict())  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if _is_pydantic(value):
        dumped: dict[Any, Any] = value.model_dump()  # type: ignore[attr-defined]
        return dumped
    return None


def _canonical(value: object) -> object:
    """``value`` with every row in it (at any depth) turned into a dict, tuples into lists."""
    found = as_dict(value)
    if found is not None:
        return {key: _canonical(item) for key, item in found.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item) for item in value]
    return value


def canonical_json(value: object) -> str:
    """Compact JSON of ``value`` with sorted keys, rows in it as dicts, else ``str``."""
    return json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"), default=str)


def row_json(row: object) -> str:
    """The canonical JSON of a whole row: a plain object by its ``__dict__``, anything
    else (a tuple, a scalar) by its ``repr``."""
    whole: object = as_dict(row)
    if whole is None:  # not a row shape: its attributes, else its repr (as before)
        attributes = getattr(row, "__dict__", None)
        whole = dict(attributes) if attributes is not None else repr(row)
    return canonical_json(whole)

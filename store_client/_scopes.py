"""Scopes: which task instance or which asset a store belongs to.

How it works: frozen dataclasses checked in ``__post_init__``, so an invalid scope can
never exist (as in Airflow's task SDK). A task scope is the task instance's identity
across its retries: ``(dag_id, run_id, task_id, map_index)``; the try number is not part
of it. An asset scope is identified by its name, or by its URI when it has no name; this
matches Airflow, whose ``Asset(uri=...)`` takes the URI as its name.

What it does not do: check that the DAG, run, task or asset exists anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from store_client._errors import InvalidScopeError
from store_client._values import check_text

__all__ = ["MAX_MAP_INDEX", "MAX_SCOPE_BYTES", "AssetScope", "TaskScope"]

_MAX_ID_LENGTH: Final = 250
_MAX_ASSET_LENGTH: Final = 1500
#: PostgreSQL's unique indexes hold at most ~2,700 bytes per row: the scope's fields
#: together, in UTF-8, stay under this so that scope and key (at most 1,000 bytes) fit.
MAX_SCOPE_BYTES: Final = 1500
#: Map indices are 32-bit, as in Airflow's own tables.
MAX_MAP_INDEX: Final = 2**31 - 1


def _check_bytes(owner: str, fields: tuple[str, ...], *values: str) -> None:
    size = sum(len(v) if v.isascii() else len(v.encode()) for v in values)
    if size > MAX_SCOPE_BYTES:
        raise InvalidScopeError(
            f"{owner} {'+'.join(fields)} take {size} bytes as UTF-8, over the limit of "
            f"{MAX_SCOPE_BYTES} (the stores index them)")


@dataclass(frozen=True, slots=True)
class TaskScope:
    """One task instance, across all of its tries."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    def __post_init__(self) -> None:
        for name in ("dag_id", "run_id", "task_id"):
            check_text(getattr(self, name), f"TaskScope.{name}", _MAX_ID_LENGTH,
                       InvalidScopeError)
        _check_bytes("TaskScope", ("dag_id", "run_id", "task_id"), self.dag_id, self.run_id,
                     self.task_id)
        if type(self.map_index) is not int:
            raise InvalidScopeError(
                f"TaskScope.map_index must be an int, got "
                f"{type(self.map_index).__name__}: {self.map_index!r:.60}"
            )
        if not -1 <= self.map_index <= MAX_MAP_INDEX:
            raise InvalidScopeError(
                f"TaskScope.map_index must be -1 (not mapped) or 0 to {MAX_MAP_INDEX}, "
                f"got {self.map_index}")

    def __str__(self) -> str:
        suffix = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}/{self.run_id}/{self.task_id}{suffix}"


@dataclass(frozen=True, slots=True)
class AssetScope:
    """One data asset, across all runs. Give its ``name``, its ``uri``, or both."""

    name: str | None = None
    uri: str | None = None

    def __post_init__(self) -> None:
        if self.name is None and self.uri is None:
            raise InvalidScopeError("AssetScope needs a name or a uri")
        for name in ("name", "uri"):
            value = getattr(self, name)
            if value is not None:
                check_text(value, f"AssetScope.{name}", _MAX_ASSET_LENGTH, InvalidScopeError)
                _check_bytes("AssetScope", (name,), value)

    @property
    def identity(self) -> str:
        """The string the asset's values are stored under: its name, else its URI."""
        return self.name if self.name is not None else str(self.uri)

    def __str__(self) -> str:
        return self.identity

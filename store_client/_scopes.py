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

from store_client._errors import InvalidScopeError

__all__ = ["AssetScope", "TaskScope"]

_MAX_ID_LENGTH = 250
_MAX_ASSET_LENGTH = 1500


def _check_text(owner: str, field: str, value: object, limit: int) -> None:
    if not isinstance(value, str):
        raise InvalidScopeError(
            f"{owner}.{field} must be a str, got {type(value).__name__}: {value!r:.60}"
        )
    if not value:
        raise InvalidScopeError(f"{owner}.{field} must not be empty")
    if len(value) > limit:
        raise InvalidScopeError(
            f"{owner}.{field} is {len(value)} characters, over the limit of {limit}"
        )


@dataclass(frozen=True, slots=True)
class TaskScope:
    """One task instance, across all of its tries."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    def __post_init__(self) -> None:
        for name in ("dag_id", "run_id", "task_id"):
            _check_text("TaskScope", name, getattr(self, name), _MAX_ID_LENGTH)
        if type(self.map_index) is not int:
            raise InvalidScopeError(
                f"TaskScope.map_index must be an int, got "
                f"{type(self.map_index).__name__}: {self.map_index!r:.60}"
            )
        if self.map_index < -1:
            raise InvalidScopeError(
                f"TaskScope.map_index must be -1 (not mapped) or >= 0, got {self.map_index}"
            )

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
        if self.name is not None:
            _check_text("AssetScope", "name", self.name, _MAX_ASSET_LENGTH)
        if self.uri is not None:
            _check_text("AssetScope", "uri", self.uri, _MAX_ASSET_LENGTH)

    @property
    def identity(self) -> str:
        """The string the asset's values are stored under: its name, else its URI."""
        return self.name if self.name is not None else str(self.uri)

    def __str__(self) -> str:
        return self.identity

"""TaskScope and AssetScope: frozen, validated on construction."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from store_client import AssetScope, InvalidScopeError, TaskScope


@pytest.mark.parametrize(("args", "message"), [
    (("", "r", "t"), "TaskScope.dag_id must not be empty"),
    (("d", None, "t"), "TaskScope.run_id must be a str"),
    (("d", "r", "x" * 251), "TaskScope.task_id is 251 characters"),
    (("d", "r", "t", -2), "TaskScope.map_index must be -1"),
    (("d", "r", "t", "0"), "TaskScope.map_index must be an int"),
    (("d", "r", "t", True), "TaskScope.map_index must be an int"),
    (("d", "r", "t", 2**31), "0 to 2147483647, got 2147483648"),
    (("d", "r", "t", 2**64), "0 to 2147483647"),
    (("d\x00", "r", "t"), "TaskScope.dag_id .* contains a NUL"),
    (("d", "\udcff", "t"), "TaskScope.run_id .* lone surrogate at position 0"),
    (("\U0001d518" * 250, "\U0001d518" * 250, "t"), "take 2001 bytes as UTF-8, over .* 1500"),
])
def test_bad_task_scopes(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidScopeError, match=message):
        TaskScope(*args)


def test_bad_asset_scopes() -> None:
    with pytest.raises(InvalidScopeError, match="needs a name or a uri"):
        AssetScope()
    with pytest.raises(InvalidScopeError, match=r"AssetScope\.name must not be empty"):
        AssetScope(name="")
    with pytest.raises(InvalidScopeError, match=r"AssetScope\.uri must be a str"):
        AssetScope(uri=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidScopeError, match=r"AssetScope name take 3500 bytes"):
        AssetScope(name="\u4e2d\U0001d518" * 500)
    assert AssetScope(name="x" * 1500).identity == "x" * 1500
    assert TaskScope("d", "r", "t", 2**31 - 1).map_index == 2**31 - 1


def test_scopes_are_frozen_and_hashable() -> None:
    scope = TaskScope("d", "r", "t", 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.dag_id = "x"  # type: ignore[misc]
    assert {scope, TaskScope("d", "r", "t", 2)} == {scope}
    assert str(scope) == "d/r/t[2]" and str(TaskScope("d", "r", "t")) == "d/r/t"
    assert AssetScope(uri="s3://b/k").identity == "s3://b/k"
    assert AssetScope(name="n", uri="s3://b/k").identity == "n"

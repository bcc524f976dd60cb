"""``StoreClient.scopes()`` and ``resumable scopes``: every scope with live keys, per backend."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from store_client import AssetScope, ScopeSummary, StoreClient, TaskScope, cli_main, connect
from tests.support.clock import FakeClock


def fill(client: StoreClient) -> None:
    a, b = TaskScope("etl", "r1", "load"), TaskScope("etl", "r1", "load", 3)
    client.task_store(a).set("x", 1)
    client.task_store(a).set("y", 2)
    client.task_store(b).set("x", 1, retention=timedelta(seconds=5))
    client.task_store(TaskScope("etl", "r2", "load")).set("gone", 1,
                                                          retention=timedelta(seconds=5))
    client.asset_store("orders").set("watermark", {"cursor": 5})
    client.asset_store(AssetScope(uri="s3://bucket/clicks")).set("w", 1)


def summary(found: list[ScopeSummary]) -> list[tuple[str, str, int]]:
    return [("task" if isinstance(s.scope, TaskScope) else "asset", str(s.scope), s.keys)
            for s in found]


def test_every_scope_with_live_keys_is_listed(client: StoreClient, clock: FakeClock) -> None:
    fill(client)
    assert sorted(summary(client.scopes())) == sorted([
        ("task", "etl/r1/load", 2), ("task", "etl/r1/load[3]", 1),
        ("task", "etl/r2/load", 1), ("asset", "orders", 1),
        ("asset", "s3://bucket/clicks", 1)])
    clock.advance(timedelta(seconds=10))  # the 5-second keys expire: scopes not listed
    assert sorted(summary(client.scopes())) == sorted([
        ("task", "etl/r1/load", 2), ("asset", "orders", 1), ("asset", "s3://bucket/clicks", 1)])


def test_an_empty_store_lists_nothing(client: StoreClient) -> None:
    assert client.scopes() == []


def test_the_command_prints_and_never_creates_a_store(
        tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    assert cli_main(["scopes", "--url", url]) == 2  # no such store: a user error
    capsys.readouterr()
    with connect(url) as client:
        fill(client)
    assert cli_main(["scopes", "--url", url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["kind"], r["scope"], r["keys"]) for r in rows} >= {
        ("task", "etl/r1/load", 2), ("asset", "orders", 1)}
    assert cli_main(["scopes", "--url", url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[:3] == ["task", "etl/r1/load", "2"]

"""Contract: prefix scans across scopes, paired values, and that SQL walks the key index."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from store_client import NEVER_EXPIRE, StoreClient, TaskScope, connect
from store_client._sql_schema import KEY_INDEX
from store_client._sql_statements import scan_query
from tests.support.clock import FakeClock

A, B = TaskScope("d1", "r", "t"), TaskScope("d2", "r", "t", 3)


def test_a_paired_scan_brings_the_named_key_of_the_same_scope(client: StoreClient,
                                                              clock: FakeClock) -> None:
    client.task_store(A).set("meta/job_id", {"phase": "polling"}, retention=NEVER_EXPIRE)
    client.task_store(A).set("job_id", "j-1")
    client.task_store(B).set("meta/job_id", {"phase": "submitted"})  # no job_id yet
    client.task_store(B).set("meta/other", {"phase": "x"})
    client.task_store(TaskScope("d1", "r", "t", 0)).set("other", "not A's")
    client.task_store(B).set("other", "old", retention=timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))  # B's "other" expired: not paired
    found = {(e.scope, e.key): e.paired for e in client.scan_tasks("meta/", pair=True)}
    assert found == {(A, "meta/job_id"): '"j-1"', (B, "meta/job_id"): None,
                     (B, "meta/other"): None}
    assert all(e.paired is None for e in client.scan_tasks("meta/"))  # only when asked


def test_scan_rejects_a_pair_that_is_not_a_bool(client: StoreClient) -> None:
    with pytest.raises(ValueError, match="pair"):
        client.scan_tasks("x", pair="yes")  # type: ignore[arg-type]


KEYS = ["a", "A", "a/", "a/b", "a0", "a\U0010ffff", "a\U0010ffffz", "é", "éa", "\ud7ff",
        "\ue000", "%", "_", "a%", "a_b", "b"]


@pytest.mark.parametrize("prefix", ["", "a", "A", "a/", "a\U0010ffff", "é", "\ud7ff", "%",
                                    "_", "a_", "\U0010ffff"])
def test_the_prefix_is_exact_and_case_sensitive(client: StoreClient, prefix: str) -> None:
    ts = client.task_store(A)
    for i, key in enumerate(KEYS):
        ts.set(key, i)
    assert sorted(e.key for e in client.scan_tasks(prefix)) == sorted(
        k for k in KEYS if k.startswith(prefix))


_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
                max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(keys=st.lists(_text.filter(bool), min_size=1, max_size=8, unique=True),
       prefix=_text)
def test_scan_matches_startswith(persistent_url: str, keys: list[str], prefix: str) -> None:
    with connect(persistent_url) as client:
        client.backend.clear(A)
        for key in keys:
            client.task_store(A).set(key, 1)
        assert sorted(e.key for e in client.scan_tasks(prefix)) == sorted(
            k for k in keys if k.startswith(prefix))


def test_a_scan_of_the_library_s_keys_walks_the_key_index(persistent_url: str,
                                                          clock: FakeClock) -> None:
    with connect(persistent_url) as client:
        client.task_store(A).set("resumable.job/x", 1)  # creates the schema, its indexes
        engine = client.backend.engine  # type: ignore[attr-defined]
        postgres = engine.dialect.name == "postgresql"
        query = scan_query("resumable.job/", clock(), pair=True, postgres=postgres)
        compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
        with engine.connect() as conn:
            if postgres:
                conn.execute(text("SET enable_seqscan = off"))  # a tiny table: force choice
                plan = " ".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
            else:
                plan = " ".join(str(r[-1]) for r in conn.execute(
                    text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert KEY_INDEX in plan, plan

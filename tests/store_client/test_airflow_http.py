"""The Airflow REST backend against a real ``airflow api-server`` (units: ``_errors`` twin).

The first half runs against real Airflow 3.3 (:mod:`tests.store_client.airflow_api`, one
server for the module, its state rows wiped before each test): the store contract cases
that Airflow's data model admits, then what is particular to this backend (map indices
of a mapped task, paging past the server's page cap, ``expires_at`` as Airflow stores it,
404s, tokens and logins, 422, the emulated compare-and-set, asset lookup). Canned
answers through ``httpx.MockTransport`` (retries, error translation, ``connect()``)
are in ``test_airflow_http_errors.py``.

Contract cases left out, and why: ``test_map_indices_are_isolated`` (an Airflow task is
either mapped, indices 0..n, or not, -1; never both), ``test_asset_identity_is_name_else_uri``
(in Airflow a name and a URI name one asset), ``test_scan_tasks_across_scopes`` (no such
API: see ``test_cleanup_and_scan_tasks_are_unavailable``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest

from store_client import (
    NEVER_EXPIRE,
    AssetScope,
    InvalidScopeError,
    InvalidValueError,
    RetryPolicy,
    StoreAuthError,
    StoreBackendError,
    StoreClient,
    TaskScope,
    connect,
)
from store_client._airflow_http import AirflowHttpBackend
from tests.store_client import test_contract_stores as contract
from tests.store_client.airflow_api import (
    PAGE_LIMIT,
    AirflowApiServer,
    airflow_command,
)
from tests.support import require_or_skip
from tests.support.clock import FakeClock

FAST = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002)
TASK = TaskScope("dag", "run", "task")


# -- the real Airflow API ------------------------------------------------------------------

@pytest.fixture(scope="module")
def airflow_api() -> Iterator[AirflowApiServer]:
    """One ``airflow api-server`` for the module (skips if Airflow is not installed)."""
    if airflow_command() is None:
        require_or_skip("apache-airflow is not installed: pip install 'resumable[airflow]'")
    with AirflowApiServer() as server:
        yield server


@pytest.fixture
def airflow(airflow_api: AirflowApiServer) -> AirflowApiServer:
    """The module's server with no task or asset state left by an earlier test."""
    airflow_api.wipe_state()
    return airflow_api


@pytest.fixture
def store_url(airflow: AirflowApiServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The API root; ``connect(store_url)`` finds an admin token in the environment."""
    monkeypatch.setenv("RESUMABLE_AIRFLOW_TOKEN", airflow.token())
    return airflow.api_url


@pytest.fixture
def persistent_url(store_url: str) -> str:
    return store_url


@pytest.fixture
def client(airflow: AirflowApiServer, clock: FakeClock) -> Iterator[StoreClient]:
    with connect(airflow.api_url, token=airflow.token(), clock=clock) as c:
        yield c


# The contract cases Airflow's data model admits, run here on the fixtures above.
test_contract_get_set_delete = contract.test_get_set_delete
test_contract_falsy_values_are_present = contract.test_falsy_values_are_present
test_contract_scopes_are_isolated = contract.test_scopes_are_isolated
test_contract_expired_invisible = contract.test_expired_values_are_invisible_before_cleanup
test_contract_rewriting_revives = contract.test_rewriting_an_expired_key_revives_it
test_contract_default_retention_days = contract.test_default_retention_days_setting
test_contract_asset_store_basics = contract.test_asset_store_basics
test_contract_compare_and_set = contract.test_compare_and_set
test_contract_cas_json_types = contract.test_compare_and_set_distinguishes_json_types
test_contract_async_twins = contract.test_async_twins
test_contract_async_validation = contract.test_async_validation_writes_nothing
test_contract_survives_reopen = contract.test_store_survives_reopen
test_contract_wrong_scope_types = contract.test_wrong_scope_types_are_refused


def test_map_indices_of_a_mapped_task_are_isolated(client: StoreClient) -> None:
    mapped = {i: client.task_store(TaskScope("dag", "run", "mapped", i)) for i in (0, 1, 2)}
    unmapped = client.task_store(TASK)
    for i, store in mapped.items():
        store.set("k", i)
    unmapped.set("k", "unmapped")
    assert {i: s.items() for i, s in mapped.items()} == {i: {"k": i} for i in mapped}
    mapped[1].clear()
    assert (mapped[0].get("k"), mapped[1].get("k"), mapped[2].get("k")) == (0, None, 2)
    mapped[2].clear(all_map_indices=True)
    assert all(s.items() == {} for s in mapped.values())
    assert unmapped.items() == {"k": "unmapped"}


def test_items_pages_past_the_server_page_cap(client: StoreClient) -> None:
    ts, assets = client.task_store(TASK), client.asset_store("orders")
    expected = {f"key-{i:03d}": i for i in range(2 * PAGE_LIMIT + 10)}
    for key, value in expected.items():
        ts.set(key, value)
    for key, value in list(expected.items())[:PAGE_LIMIT + 5]:
        assets.set(key, value)
    assert ts.items() == expected
    assert assets.items() == dict(list(expected.items())[:PAGE_LIMIT + 5])


def test_task_compare_and_set_is_emulated_over_the_api(airflow: AirflowApiServer,
                                                      client: StoreClient,
                                                      clock: FakeClock) -> None:
    ts = client.task_store(TASK)
    assert ts.compare_and_set("claim", None, {"owner": "a"}, retention=NEVER_EXPIRE)
    assert not ts.compare_and_set("claim", None, {"owner": "b"})
    assert not ts.compare_and_set("claim", {"owner": "b"}, {"owner": "c"})
    assert ts.compare_and_set("claim", {"owner": "a"}, {"owner": "c"},
                              retention=timedelta(hours=1))
    assert ts.get("claim") == {"owner": "c"}
    [row] = [r for r in airflow.task_state_rows("dag", "run") if r.key == "claim"]
    assert datetime.fromisoformat(str(row.expires_at)).replace(
        tzinfo=timezone.utc) == clock.now + timedelta(hours=1)


def test_expiry_as_airflow_stores_it(airflow: AirflowApiServer, client: StoreClient,
                                     clock: FakeClock) -> None:
    ts = client.task_store(TASK)
    ts.set("never", 1, retention=NEVER_EXPIRE)
    ts.set("hour", 2, retention=timedelta(hours=1))
    ts.set("default", 3)
    with connect(airflow.api_url, token=airflow.token(), default_retention_days=0,
                 clock=clock) as no_expiry:
        no_expiry.task_store(TASK).set("zero_days", 4)
    rows = {r.key: r for r in airflow.task_state_rows("dag", "run")}

    def stored(key: str) -> datetime:  # Airflow's SQLite column holds naive UTC text
        return datetime.fromisoformat(str(rows[key].expires_at)).replace(tzinfo=timezone.utc)

    assert rows["never"].expires_at is None and rows["zero_days"].expires_at is None
    assert stored("hour") == clock.now + timedelta(hours=1)
    assert stored("default") == clock.now + timedelta(days=30)
    assert json.loads(rows["never"].value) == 1


def test_absent_keys_and_unknown_task_instances_read_as_absent(client: StoreClient) -> None:
    assert client.task_store(TASK).get("missing", default="d") == "d"
    unknown = client.task_store(TaskScope("dag", "run", "no_such_task"))
    assert unknown.get("k") is None and unknown.items() == {}


def test_writes_to_unknown_task_instances_are_invalid_scope(client: StoreClient) -> None:
    for scope in (TaskScope("dag", "run", "no_such_task"), TaskScope("dag", "no_run", "task"),
                  TaskScope("dag", "run", "mapped")):  # mapped: no map index -1
        store = client.task_store(scope)
        for write in (partial(store.set, "k", 1), partial(store.delete, "k"), store.clear):
            with pytest.raises(InvalidScopeError, match=f"task_id={scope.task_id!r}"):
                write()


def test_keys_with_slashes_and_odd_characters_round_trip(client: StoreClient) -> None:
    ts = client.task_store(TASK)
    keys = ["a/b", "a//b", "/lead", "trail/", ".", "..", "a/../b", "q?x=1#f", "100% é+ ~"]
    for i, key in enumerate(keys):
        ts.set(key, i)
    assert ts.items() == {key: i for i, key in enumerate(keys)}
    assert [ts.get(key) for key in keys] == list(range(len(keys)))
    ts.delete("a/../b")
    assert ts.get("a/../b") is None and ts.get("a/b") == 0


def test_bad_or_missing_tokens_are_auth_errors(airflow: AirflowApiServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESUMABLE_AIRFLOW_TOKEN", raising=False)
    cases = {"401 Not authenticated": None, "403 Invalid JWT": "not-a-jwt",
             "401 Token Expired": airflow.expired_token()}
    for message, token in cases.items():
        with connect(airflow.api_url, token=token, retry=FAST) as c, \
                pytest.raises(StoreAuthError, match=message):
            c.task_store(TASK).get("k")
    with connect(airflow.api_url, token=airflow.token("viewer")) as viewer:
        assert viewer.task_store(TASK).get("k") is None  # may read
        with pytest.raises(StoreAuthError, match="403 Forbidden"):
            viewer.task_store(TASK).set("k", 1)


def test_username_password_login_and_relogin(airflow: AirflowApiServer) -> None:
    password = airflow.passwords["admin"]
    with connect(airflow.api_url, username="admin", password=password) as c:
        c.task_store(TASK).set("k", 1)
    # An expired token with credentials: the 401 makes the client log in again, once.
    with connect(airflow.api_url, token=airflow.expired_token(), username="admin",
                 password=password) as c:
        assert c.task_store(TASK).get("k") == 1
    with connect(airflow.api_url, username="admin", password="wrong") as c, \
            pytest.raises(StoreAuthError, match="login of user 'admin'") as caught:
        c.task_store(TASK).get("k")
    assert "wrong" not in str(caught.value)


def test_server_validation_is_an_invalid_value_error(airflow: AirflowApiServer) -> None:
    with connect(airflow.api_url, token=airflow.token(), max_value_bytes=0) as c, \
            pytest.raises(InvalidValueError, match="max_value_storage_bytes"):
        c.task_store(TASK).set("big", "x" * 5000)  # over the server's 4096, not ours
    assert airflow.task_state_rows("dag", "run") == []


def test_compare_and_set_takes_turns_within_one_client(client: StoreClient) -> None:
    assets, wins = client.asset_store("orders"), []
    threads = [threading.Thread(target=lambda i=i: wins.append(
        assets.compare_and_set("cursor", None, i))) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wins) == [False] * 5 + [True]


def test_compare_and_set_race_window_is_as_documented(airflow: AirflowApiServer) -> None:
    """Another client's write between our GET and our PUT is lost: both report True."""
    other = connect(airflow.api_url, token=airflow.token())

    class Interleaved(AirflowHttpBackend):
        def get(self, scope: Any, key: str, *, now: datetime) -> str | None:
            seen = super().get(scope, key, now=now)
            assert other.asset_store("orders").compare_and_set(key, None, "theirs")
            return seen

    ours = StoreClient(Interleaved(airflow.api_url, token=airflow.token()))
    assert ours.asset_store("orders").compare_and_set("cursor", None, "ours") is True
    assert other.asset_store("orders").get("cursor") == "ours"  # "theirs" was overwritten
    other.close()
    ours.close()


def test_assets_are_looked_up_by_name_or_uri(client: StoreClient) -> None:
    client.asset_store("orders").set("c", 1)
    assert client.asset_store(AssetScope(uri="s3://bucket/orders")).get("c") == 1
    assert client.asset_store(AssetScope(name="orders", uri="s3://bucket/orders")).get("c") == 1
    client.asset_store("a|b").set("c", 2)  # "|" would split the name filter: substring search
    assert client.asset_store("a|b").items() == {"c": 2}
    for scope in (AssetScope(name="order"), AssetScope(name="orders", uri="s3://x"),
                  AssetScope(uri="s3://bucket")):
        with pytest.raises(InvalidScopeError, match="Airflow has no asset"):
            client.asset_store(scope).get("c")


def test_cleanup_and_scan_tasks_are_unavailable(client: StoreClient) -> None:
    with pytest.raises(StoreBackendError, match="airflow state-store clean"):
        client.cleanup()
    with pytest.raises(StoreBackendError, match="not available"):
        client.scan_tasks("job")


def test_connect_from_the_environment(airflow: AirflowApiServer,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_STORE_URL", airflow.api_url + "/")
    monkeypatch.setenv("RESUMABLE_AIRFLOW_TOKEN", airflow.token())
    with connect() as c:
        assert isinstance(c.backend, AirflowHttpBackend)
        c.task_store(TASK).set("k", 1)
        assert c.task_store(TASK).get("k") == 1


def test_a_url_that_is_not_the_api_root_is_a_backend_error(airflow: AirflowApiServer) -> None:
    with connect(f"{airflow.url}/elsewhere/api/v2", token=airflow.token()) as c:
        with pytest.raises(StoreBackendError, match=r"Airflow 3\.3 or later"):
            c.task_store(TASK).get("k")
        with pytest.raises(StoreBackendError):
            c.task_store(TASK).set("k", 1)

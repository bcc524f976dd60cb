"""The airflow_http backend's request shapes, retries and error mapping (httpx MockTransport).

The real-server half is ``test_airflow_http.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from store_client import (
    NEVER_EXPIRE,
    AssetScope,
    ConfigurationError,
    InvalidScopeError,
    InvalidValueError,
    RetryPolicy,
    StoreAuthError,
    StoreBackendError,
    StoreClient,
    StoreUnavailableError,
    TaskScope,
    connect,
)
from store_client._airflow_http import AirflowHttpBackend
from tests.store_client.airflow_api import (
    free_port,
)
from tests.support.clock import FakeClock

FAST = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002)
TASK = TaskScope("dag", "run", "task")



# -- canned answers (httpx.MockTransport) -------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]
URL = "http://airflow.test/api/v2"


def mocked(handler: Handler, **kwargs: Any) -> tuple[StoreClient, list[httpx.Request]]:
    """A client whose backend talks to ``handler``; every request is recorded."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    kwargs.setdefault("token", "tok")
    backend = AirflowHttpBackend(URL, retry=FAST, transport=httpx.MockTransport(record), **kwargs)
    return StoreClient(backend, clock=FakeClock()), seen


def answers(*responses: httpx.Response) -> Handler:
    """Answer with ``responses`` in turn, then repeat the last one."""
    queue = list(responses)
    return lambda request: queue.pop(0) if len(queue) > 1 else queue[0]


def test_a_read_answered_with_a_web_page_is_a_backend_error() -> None:
    client, _ = mocked(answers(httpx.Response(200, text="<html>")))
    with pytest.raises(StoreBackendError, match="not JSON"):
        client.task_store(TASK).get("k")


def test_requests_have_the_documented_shape() -> None:
    client, seen = mocked(answers(httpx.Response(204)))
    mapped = client.task_store(TaskScope("d", "r+1", "t", 2))
    mapped.set("a/b", {"b": 1, "a": None}, retention=NEVER_EXPIRE)
    mapped.set("..", 1, retention=timedelta(hours=1))
    mapped.clear(all_map_indices=True)
    put, dots, clear = seen
    assert put.method == "PUT" and put.headers["Authorization"] == "Bearer tok"
    assert put.url.raw_path == b"/api/v2/dags/d/dagRuns/r%2B1/taskInstances/t/state-store/" \
                               b"a%2Fb?map_index=2"
    assert put.content == b'{"value":{"a":null,"b":1},"expires_at":null}'
    assert dots.url.raw_path.endswith(b"/state-store/%2E%2E?map_index=2")
    assert json.loads(dots.content)["expires_at"] == "2026-11-01T13:00:00+00:00"
    assert clear.method == "DELETE" and clear.url.params["all_map_indices"] == "true"


@pytest.mark.parametrize("failure", [429, 500, 502, 503, 504])
def test_busy_and_server_errors_are_retried(failure: int) -> None:
    ok = httpx.Response(200, json={"key": "k", "value": 7, "expires_at": None})
    client, seen = mocked(answers(httpx.Response(failure), httpx.Response(failure), ok))
    assert client.task_store(TASK).get("k") == 7 and len(seen) == 3
    client, seen = mocked(answers(httpx.Response(failure, json={"detail": "busy"})))
    with pytest.raises(StoreUnavailableError, match=f"{failure}: busy"):
        client.task_store(TASK).get("k")
    assert len(seen) == FAST.attempts


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout,
                                   httpx.RemoteProtocolError])
def test_transport_errors_are_retried_then_unavailable(error: type[httpx.HTTPError]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)  # type: ignore[call-arg]

    client, seen = mocked(fail)
    with pytest.raises(StoreUnavailableError) as caught:
        client.task_store(TASK).set("k", 1)
    assert isinstance(caught.value.__cause__, error) and len(seen) == FAST.attempts


def test_unreachable_server_is_unavailable() -> None:
    with connect(f"http://127.0.0.1:{free_port()}/api/v2", token="t", retry=FAST) as c, \
            pytest.raises(StoreUnavailableError, match="unreachable"):
        c.task_store(TASK).get("k")


@pytest.mark.parametrize(("response", "error", "message"), [
    (httpx.Response(403, json={"detail": "Forbidden"}), StoreAuthError, "403 Forbidden"),
    (httpx.Response(401, json={"detail": "Token Expired"}), StoreAuthError, "fresh token"),
    (httpx.Response(422, json={"detail": [{"loc": ["body", "value"], "msg": "too big"}]}),
     InvalidValueError, "value: too big"),
    (httpx.Response(400, json={"detail": "bad config"}), StoreBackendError, "400: bad config"),
    (httpx.Response(404, json={"error": "API route not found"}), StoreBackendError, "route"),
    (httpx.Response(307, headers={"location": "https://x/"}), StoreBackendError, "redirected"),
    (httpx.Response(200, text="<html>"), StoreBackendError, "200, not 204"),
    (httpx.Response(404, json={"detail": "Task instance not found"}), InvalidScopeError,
     "Airflow has no task instance"),
])
def test_answers_map_to_store_errors_at_once(response: httpx.Response, error: type[Exception],
                                             message: str) -> None:
    client, seen = mocked(answers(response))
    with pytest.raises(error, match=message):
        client.task_store(TASK).set("k", 1)
    assert len(seen) == 1  # not retried


def test_login_then_one_relogin_when_the_token_is_refused() -> None:
    tokens = iter(["t1", "t2", "t3"])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            assert json.loads(request.content) == {"username": "u", "password": "p"}
            return httpx.Response(201, json={"access_token": next(tokens)})
        if request.headers["Authorization"] == "Bearer t1":
            return httpx.Response(401, json={"detail": "Token Expired"})
        return httpx.Response(200, json={"key": "k", "value": 1, "expires_at": None})

    client, seen = mocked(handler, token=None, username="u", password="p")
    assert client.task_store(TASK).get("k") == 1
    assert [r.url.path.rsplit("/", 1)[-1] for r in seen] == ["token", "k", "token", "k"]

    def always_refused(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "fresh"})
        return httpx.Response(401, json={"detail": "nope"})

    refused, seen_after = mocked(always_refused, username="u", password="p")
    with pytest.raises(StoreAuthError):
        refused.task_store(TASK).get("k")
    assert len(seen_after) == 3  # the given token, one login, one more try


def test_asset_ids_are_looked_up_exactly_and_cached() -> None:
    catalog = [{"id": 1, "name": "orders2", "uri": "o2"}, {"id": 2, "name": "orders", "uri": "o"},
               {"id": 3, "name": "x|y", "uri": "a"}, {"id": 4, "name": "x|y", "uri": "b"}]
    deleted, inactive = set[int](), {4}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/assets":
            active = request.url.params["only_active"] == "true"
            rows = [a for a in catalog if a["id"] not in deleted
                    and not (active and a["id"] in inactive)]
            return httpx.Response(200, json={"assets": rows, "total_entries": len(rows)})
        if int(request.url.path.split("/")[4]) in deleted:
            return httpx.Response(404, json={"detail": "Asset with id 2 not found"})
        return httpx.Response(200, json={"key": "c", "value": 5})

    client, seen = mocked(handler)
    assert client.asset_store("orders").get("c") == 5
    assert client.asset_store("orders").get("c") == 5
    lookup, *gets = seen
    assert dict(lookup.url.params) == {"name_prefix_pattern": "orders", "only_active": "true",
                                       "limit": "100", "offset": "0"}
    assert [g.url.path for g in gets] == ["/api/v2/assets/2/state-store/c"] * 2
    assert client.asset_store("x|y").get("c") == 5  # the active one of two
    assert seen[-2].url.params["name_pattern"] == "x|y"  # a prefix filter would split "|"
    deleted.update({2, 3})
    with pytest.raises(InvalidScopeError, match="Airflow has no asset named 'orders'"):
        client.asset_store("orders").get("c")  # cached id gone: forgotten
    with pytest.raises(InvalidScopeError, match="no asset named 'orders'; an asset exists"):
        client.asset_store("orders").get("c")  # looked up again
    deleted.clear()
    inactive.add(3)  # no "x|y" is active: two of that name remain, which is ambiguous
    fresh, _ = mocked(handler)
    with pytest.raises(InvalidScopeError, match=r"several Airflow assets are named 'x\|y'"):
        fresh.asset_store("x|y").get("c")
    assert fresh.asset_store(AssetScope(name="x|y", uri="b")).get("c") == 5


def test_paging_follows_what_the_server_returns() -> None:
    entries = [{"key": f"k{i}", "value": i, "expires_at": None} for i in range(7)]
    entries[3]["expires_at"] = "2026-11-01T12:00:00Z"  # == the fake clock's now: expired

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"task_state_store": entries[offset:offset + 3],
                                         "total_entries": len(entries)})

    client, seen = mocked(handler)
    assert client.task_store(TASK).items() == {f"k{i}": i for i in range(7) if i != 3}
    assert [r.url.params["offset"] for r in seen] == ["0", "3", "6"]


def test_connect_builds_the_backend_and_keeps_secrets_out(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.delenv("RESUMABLE_AIRFLOW_TOKEN", raising=False)
    with connect("https://airflow.example/api/v2/", token="s3cret") as c:
        assert isinstance(c.backend, AirflowHttpBackend)
        assert c.settings.url == "https://airflow.example/api/v2"
        assert "s3cret" not in repr(c) + repr(c.settings) + repr(c.backend)
    with connect("memory://") as c:  # other schemes unchanged; the variable is ignored
        assert c.settings.token is None


@pytest.mark.parametrize(("url", "kwargs", "env", "message"), [
    ("https://airflow.example", {}, {}, "url=.* must end|url=.*ending in /api/v2"),
    ("https://u:s3cret@airflow.example/api/v2", {}, {}, "must not hold a user name"),
    ("https://airflow.example/api/v2", {}, {"RESUMABLE_AIRFLOW_TOKEN": "a b"},
     "RESUMABLE_AIRFLOW_TOKEN must be a bare bearer token"),
    ("https://airflow.example/api/v2", {"token": "Bearer s3cret"}, {}, "token must be a bare"),
    ("https://airflow.example/api/v2", {"username": "u"}, {}, "password= is missing"),
    ("https://airflow.example/api/v2", {"password": "s3cret"}, {}, "username= is missing"),
    ("memory://", {"token": "s3cret"}, {}, "token= only apply to an Airflow REST API URL"),
    (None, {}, {"RESUMABLE_STORE_URL": "http://h/v1"}, "RESUMABLE_STORE_URL=.*ending in"),
])
def test_bad_airflow_settings_name_their_source(
        url: str | None, kwargs: dict[str, str], env: dict[str, str], message: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESUMABLE_AIRFLOW_TOKEN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message) as caught:
        connect(url, **kwargs)  # type: ignore[arg-type]
    assert "s3cret" not in str(caught.value)

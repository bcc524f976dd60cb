"""The Airflow REST backend: task and asset stores kept by Airflow 3.3 itself, over HTTP.

How it works: each operation is one or a few calls to Airflow's REST API v2 (through
:class:`~store_client._airflow_http_session.AirflowSession`, which authenticates,
retries and translates errors):

- task scope: ``/dags/{dag}/dagRuns/{run}/taskInstances/{task}/state-store[/{key}]``
  with ``?map_index=N``; ``PUT`` sends ``{"value": ..., "expires_at": ISO | null}``, the
  expiry the client computed (``NEVER_EXPIRE`` and ``default_retention_days=0`` send
  null), so a row means the same here as on every other backend; ``DELETE`` of the
  collection clears it (``all_map_indices=true`` for every map index);
- asset scope: ``/assets/{id}/state-store[/{key}]``. The numeric id is looked up once per
  scope in ``GET /assets`` (``name_prefix_pattern``, or ``uri_prefix_pattern`` for a
  scope with only a URI; the substring ``*_pattern`` when the text holds ``|``, which the
  prefix filter would split), filtered exactly on the client (name, and URI if given),
  active assets first, and cached. An asset Airflow does not know is an
  :class:`InvalidScopeError` naming it; an asset deleted since it was cached is
  forgotten (the error is raised once, the next call looks it up again).

Path segments are percent-encoded whole (a key may hold ``/``; ``.`` and ``..`` are
encoded too, so no URL normalization eats them). Lists are read a page at a time
(``limit``/``offset``) until ``total_entries``; the server caps a page at its
``[api] maximum_page_limit``, which the paging follows. Values come back as JSON and are
re-encoded canonically, so they compare as on every other backend. Expired task keys are
filtered out by the client (Airflow's API returns them until ``airflow state-store
clean`` runs), using the caller's ``now`` as every backend does.

404 answers: reading an absent key returns None (reading from an unknown task instance
too: Airflow answers an empty list / 404 for both); writing, deleting or clearing in a
task instance Airflow does not have is an :class:`InvalidScopeError` (Airflow checks).

What it does not do:

- ``compare_and_set`` is emulated: Airflow's API has no conditional write. It reads the
  key (``GET``), compares canonical JSON and, if equal, writes (``PUT``). A lock makes
  concurrent calls *through this backend object* take turns, but nothing can stop another
  process, client object, or a plain ``set`` from writing the key between that ``GET``
  being answered and the ``PUT`` being applied: that write is then overwritten and both
  callers may get True (a lost update). Use the SQL backends where several writers
  race on one asset key.
- ``cleanup`` and ``scan_tasks``: the API offers no equivalent (no expired-row deletion,
  no listing across task instances); they raise :class:`StoreBackendError`. Run
  ``airflow state-store clean`` on the Airflow side.
- Paging is by offset, so keys written or deleted by others while ``items`` pages may be
  seen twice (kept once) or missed. Asset ids are not re-checked once cached.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from typing import Any, Final, NoReturn
from urllib.parse import quote

import httpx

from store_client._airflow_http_session import AirflowSession, response_detail
from store_client._backend import CleanupReport, Scope, StoreBackend, TaskEntry
from store_client._errors import (
    InvalidScopeError,
    InvalidValueError,
    StoreBackendError,
)
from store_client._retry import DEFAULT_RETRY, RetryPolicy
from store_client._scopes import AssetScope, TaskScope
from store_client._values import encode_value

__all__ = ["AirflowHttpBackend"]

DEFAULT_PAGE_SIZE: Final = 100
_Params = dict[str, str | int]


def _segment(text: str) -> str:
    """``text`` as one percent-encoded path segment (``/``, ``.`` and ``..`` included)."""
    quoted = quote(text, safe="")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def _field(obj: object, name: str, kind: type) -> Any:
    """``obj[name]``, checked to be a ``kind``; a malformed answer is a backend error."""
    value = obj.get(name) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise StoreBackendError(
            f"Airflow REST API answered without a valid {name!r} ({kind.__name__}): "
            f"{str(obj)[:200]}")
    return value


def _live_text(entry: object, now: datetime) -> str | None:
    """The canonical JSON text of one store entry, or None if it has expired."""
    key = _field(entry, "key", str)
    expires = entry.get("expires_at") if isinstance(entry, dict) else None
    if expires is not None:
        try:
            moment = datetime.fromisoformat(str(expires))
            if (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)) <= now:
                return None
        except (TypeError, ValueError) as exc:
            raise StoreBackendError(
                f"Airflow REST API answered an unreadable expires_at {expires!r}") from exc
    try:
        return encode_value(key, entry.get("value") if isinstance(entry, dict) else None)
    except InvalidValueError as exc:
        raise StoreBackendError(
            f"Airflow REST API answered a value for key {key!r} that is not storable JSON"
        ) from exc


def _task_text(scope: TaskScope) -> str:
    return (f"dag_id={scope.dag_id!r}, run_id={scope.run_id!r}, task_id={scope.task_id!r}, "
            f"map_index={scope.map_index}")


class AirflowHttpBackend(StoreBackend):
    """A :class:`StoreBackend` on Airflow 3.3's REST API; safe to share between threads.

    ``url`` is the API root, ``https://HOST[/PREFIX]/api/v2``. Give ``token`` (a bearer
    token), or ``username`` and ``password`` (exchanged for tokens at ``/auth/token``),
    or both (the token first, the credentials when it is refused). ``transport`` replaces
    httpx's network transport (tests).
    """

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, retry: RetryPolicy = DEFAULT_RETRY,
                 timeout: float = 10.0, page_size: int = DEFAULT_PAGE_SIZE,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.api = AirflowSession(url, token=token, username=username, password=password,
                                  retry=retry, timeout=timeout, transport=transport)
        self.page_size = page_size
        self._asset_ids: dict[AssetScope, int] = {}
        self._cas_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AirflowHttpBackend({self.api.api_url!r})"

    # -- addressing -----------------------------------------------------------------

    def _where(self, scope: Scope, key: str | None = None) -> tuple[str, _Params]:
        """The path and query parameters of a scope's collection, or of one key."""
        if isinstance(scope, TaskScope):
            path = (f"dags/{_segment(scope.dag_id)}/dagRuns/{_segment(scope.run_id)}/"
                    f"taskInstances/{_segment(scope.task_id)}/state-store")
            params: _Params = {"map_index": scope.map_index}
        else:
            path, params = f"assets/{self._asset_id(scope)}/state-store", {}
        return (path if key is None else f"{path}/{_segment(key)}"), params

    def _scope_missing(self, scope: Scope, response: httpx.Response) -> NoReturn:
        """Raise for a 404 that means Airflow has no such task instance or asset."""
        detail = response_detail(response)
        if isinstance(scope, TaskScope):
            raise InvalidScopeError(
                f"Airflow has no task instance {_task_text(scope)}: {detail}")
        self._asset_ids.pop(scope, None)
        raise InvalidScopeError(f"Airflow has no asset {self._asset_text(scope)}: {detail}")

    @staticmethod
    def _asset_gone(scope: Scope, response: httpx.Response) -> bool:
        """True if a 404 on an asset route says the asset id itself is unknown."""
        return isinstance(scope, AssetScope) and response_detail(response).startswith(
            "Asset with id")

    @staticmethod
    def _asset_text(scope: AssetScope) -> str:
        parts = [f"named {scope.name!r}"] if scope.name is not None else []
        if scope.uri is not None:
            parts.append(f"with URI {scope.uri!r}")
        return " ".join(parts)

    def _asset_id(self, scope: AssetScope) -> int:
        """Airflow's id of the asset (looked up once, then cached)."""
        cached = self._asset_ids.get(scope)
        if cached is not None:
            return cached
        found = self._find_assets(scope, active=True) or self._find_assets(scope, active=False)
        if not found:
            raise InvalidScopeError(
                f"Airflow has no asset {self._asset_text(scope)}; an asset exists once a "
                "parsed DAG declares it (as an inlet, outlet or schedule)")
        if len(found) > 1:
            uris = ", ".join(repr(uri) for uri in found.values())
            raise InvalidScopeError(
                f"several Airflow assets are {self._asset_text(scope)} (URIs {uris}); give "
                "AssetScope(name=..., uri=...) to pick one")
        asset_id = next(iter(found))
        self._asset_ids[scope] = asset_id
        return asset_id

    def _find_assets(self, scope: AssetScope, *, active: bool) -> dict[int, str]:
        """Ids (and URIs) of the assets matching the scope exactly."""
        column, text = ("name", scope.name) if scope.name is not None else ("uri", scope.uri)
        assert text is not None
        kind = "pattern" if "|" in text else "prefix_pattern"
        params: _Params = {f"{column}_{kind}": text, "only_active": str(active).lower()}
        found: dict[int, str] = {}
        for row in self._collect("assets", params, "assets", None):
            if (_field(row, "name", str) == scope.name or scope.name is None) and (
                    scope.uri is None or _field(row, "uri", str) == scope.uri):
                found[_field(row, "id", int)] = _field(row, "uri", str)
        return found

    def _collect(self, path: str, params: _Params, field: str, scope: Scope | None) -> list[Any]:
        """Every entry of a paged list (the server may cap each page below our limit)."""
        entries: list[Any] = []
        while True:
            response = self.api.request("GET", path, params={
                **params, "limit": self.page_size, "offset": len(entries)})
            if response.status_code == 404 and scope is not None:
                self._scope_missing(scope, response)
            page = self.api.json(response)
            rows = _field(page, field, list)
            entries.extend(rows)
            if not rows or len(entries) >= _field(page, "total_entries", int):
                return entries

    def _write(self, method: str, scope: Scope, key: str | None, *, params: _Params | None = None,
               content: str | None = None) -> None:
        """PUT or DELETE, answered 204; a 404 means the scope does not exist in Airflow."""
        path, scope_params = self._where(scope, key)
        response = self.api.request(method, path, params={**scope_params, **(params or {})},
                                    content=content)
        if response.status_code == 404:
            self._scope_missing(scope, response)
        if response.status_code != 204:  # what Airflow answers; a 200 page is someone else
            raise StoreBackendError(
                f"Airflow REST API {method} {response.request.url.path} answered "
                f"{response.status_code}, not 204; is {self.api.api_url} the REST API of "
                "Airflow 3.3 or later?")

    # -- operations -----------------------------------------------------------------

    def get(self, scope: Scope, key: str, *, now: datetime) -> str | None:
        path, params = self._where(scope, key)
        response = self.api.request("GET", path, params=params)
        if response.status_code == 404:
            if self._asset_gone(scope, response):
                self._scope_missing(scope, response)
            return None
        return _live_text(self.api.json(response), now)

    def put(self, scope: Scope, key: str, value: str, *, expires_at: datetime | None,
            now: datetime) -> None:
        if isinstance(scope, TaskScope):
            expiry = "null" if expires_at is None else json.dumps(expires_at.isoformat())
            body = f'{{"value":{value},"expires_at":{expiry}}}'
        else:
            body = f'{{"value":{value}}}'
        self._write("PUT", scope, key, content=body)

    def delete(self, scope: Scope, key: str) -> None:
        self._write("DELETE", scope, key)

    def clear(self, scope: Scope, *, all_map_indices: bool = False) -> None:
        extra: _Params = {"all_map_indices": "true"} if all_map_indices else {}
        self._write("DELETE", scope, None, params=extra)

    def items(self, scope: Scope, *, now: datetime) -> dict[str, str]:
        path, params = self._where(scope)
        field = "task_state_store" if isinstance(scope, TaskScope) else "asset_state_store"
        found: dict[str, str] = {}
        for entry in self._collect(path, params, field, scope):
            text = _live_text(entry, now)
            if text is not None:
                found[_field(entry, "key", str)] = text
        return found

    def compare_and_set(self, scope: Scope, key: str, expected: str | None, new: str,
                        *, now: datetime, expires_at: datetime | None = None) -> bool:
        """Emulated: GET, compare, PUT. Not atomic against other writers (module doc)."""
        with self._cas_lock:
            if self.get(scope, key, now=now) != expected:
                return False
            self.put(scope, key, new, expires_at=expires_at, now=now)
            return True

    def cleanup(self, *, now: datetime, dry_run: bool = False,
                batch_size: int = 0) -> CleanupReport:
        raise StoreBackendError(
            "cleanup is not available through Airflow's REST API: Airflow deletes its own "
            "expired task-store rows with `airflow state-store clean` (run it where Airflow "
            "runs); expired rows are already invisible to get and items")

    def scan_tasks(self, key_prefix: str, *, now: datetime,
                   pair: bool = False) -> list[TaskEntry]:
        raise StoreBackendError(
            "listing task stores across task instances is not available through Airflow's "
            "REST API (it lists one task instance's keys at a time)")

    def close(self) -> None:
        self.api.close()

"""``StoreBackend``: our SQL store as Airflow 3.3's state backend, server side and worker side.

How it works: one class subclasses both of Airflow's ``BaseStoreBackend`` classes (the
server's ``airflow.state`` one and the worker's ``airflow.sdk.state`` one, two different
class objects), so the same dotted path serves ``[state_store] backend`` and ``[workers]
state_store_backend``. Airflow builds it with no arguments: the store is the one
``RESUMABLE_STORE_URL`` names, else ``[resumable] store_url`` (SQLite or PostgreSQL;
without either the first call raises ``ConfigurationError``: a per-machine file would
hide values from other workers). Which side calls is told by the scope's class.

- Server side (``get``/``set``/``delete``/``clear`` and their ``a*`` twins): Airflow's
  task and asset state live in our tables, under the same task scope and key, so
  ``connect(url).task_store(TaskScope(dag, run, task, map_index))`` reads what a task
  wrote. Values are stored as canonical JSON; ``expires_at`` as given (None: never).
  Server asset scopes carry only Airflow's asset id: it is looked up to the asset's name.
- Worker side (``serialize_*_to_ref`` / ``deserialize_*_from_ref``): the value goes to
  our store under ``resumable.value/<key>`` of the same scope, with no size limit but the
  database's, and only a reference (``store_client._airflow_refs``) goes to Airflow.
  ``delete``/``clear`` from the worker remove those values. When our backend is also
  the server side, the reference Airflow stores under ``key`` carries the expiry the
  worker computed, and that expiry is given to the value too.

What it does not do: clean up by itself (Airflow's ``airflow state-store clean`` skips
custom backends; run ``resumable cleanup`` or ``StoreBackend().cleanup()``), expire a
worker-side value whose reference lives in Airflow's own database (the worker passes no
expiry: ``resumable cleanup --airflow-db`` sweeps the values whose reference is gone,
``store_client._airflow_orphans``), or map an asset reached by URI on a worker to its
name (no database there).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import datetime, timezone
from typing import Any

from airflow.sdk.state import AssetScope as WorkerAssetScope
from airflow.sdk.state import BaseStoreBackend as WorkerBackend
from airflow.sdk.state import TaskScope as WorkerTaskScope
from airflow.state import BaseStoreBackend as ServerBackend
from pydantic import JsonValue

from store_client._airflow_refs import ref_for, scope_of_ref, unwrap, value_key
from store_client._backend import CleanupReport
from store_client._client import StoreClient, connect
from store_client._config import ENV_STORE_URL
from store_client._errors import ConfigurationError, InvalidScopeError
from store_client._scopes import AssetScope, TaskScope
from store_client._values import decode_value, encode_value, validate_key

__all__ = ["StoreBackend", "store_url"]

_WORKER_SCOPES = (WorkerTaskScope, WorkerAssetScope)


def store_url() -> str:
    """The store's URL: ``RESUMABLE_STORE_URL``, else ``[resumable] store_url``."""
    url = os.environ.get(ENV_STORE_URL, "").strip()
    if not url:
        from airflow.configuration import conf

        url = (conf.get("resumable", "store_url", fallback="") or "").strip()
    if not url:
        raise ConfigurationError(
            "store_client.airflow.StoreBackend needs a store shared by every Airflow "
            f"component: set {ENV_STORE_URL} or [resumable] store_url (a postgresql:// URL, "
            "or a sqlite:/// file every component can open)")
    return url


def _now() -> datetime:
    return datetime.now(timezone.utc)


class StoreBackend(ServerBackend, WorkerBackend):
    """Airflow's task and asset state in our store; usable as either side, or both."""

    def __init__(self, client: StoreClient | None = None) -> None:
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> StoreClient:
        """The store client, connected on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = connect(store_url())
        return self._client

    # -- scopes -----------------------------------------------------------------------

    def _scope(self, scope: Any, session: Any = None) -> TaskScope | AssetScope:
        """Our scope for one of Airflow's (either side's classes)."""
        if hasattr(scope, "dag_id"):
            return TaskScope(scope.dag_id, scope.run_id, scope.task_id, scope.map_index)
        if scope.name is not None or scope.uri is not None:
            return AssetScope(name=scope.name, uri=scope.uri)
        return AssetScope(name=_asset_name(scope.asset_id, session))

    # -- server side ------------------------------------------------------------------

    def get(self, scope: Any, key: str, *, session: Any = None) -> str | None:
        return self.client.backend.get(self._scope(scope, session), validate_key(key),
                                       now=_now())

    def set(self, scope: Any, key: str, value: str, *, expires_at: datetime | None = None,
            session: Any = None) -> None:
        ours, key = self._scope(scope, session), validate_key(key)
        text = encode_value(key, json.loads(value), self.client.settings.max_value_bytes)
        if isinstance(ours, AssetScope):
            expires_at = None
        backend, now = self.client.backend, _now()
        backend.put(ours, key, text, expires_at=expires_at, now=now)
        if unwrap(text) is not None:  # our reference: its value expires with it
            stored = backend.get(ours, value_key(key), now=now)
            if stored is not None:
                backend.put(ours, value_key(key), stored, expires_at=expires_at, now=now)

    def delete(self, scope: Any, key: str, *, session: Any = None) -> None:
        if isinstance(scope, _WORKER_SCOPES):
            key = value_key(key)
        self.client.backend.delete(self._scope(scope, session), validate_key(key))

    def clear(self, scope: Any, *, all_map_indices: bool = False, session: Any = None) -> None:
        ours, backend = self._scope(scope, session), self.client.backend
        if not isinstance(scope, _WORKER_SCOPES):
            backend.clear(ours, all_map_indices=all_map_indices)
            return
        for key in backend.items(ours, now=_now()):  # the worker's values only
            if key.startswith(value_key("")):
                backend.delete(ours, key)

    async def aget(self, scope: Any, key: str, *, session: Any = None) -> str | None:
        return await asyncio.to_thread(self.get, await self._aresolved(scope, session), key)

    async def aset(self, scope: Any, key: str, value: str, *,
                   expires_at: datetime | None = None, session: Any = None) -> None:
        await asyncio.to_thread(self.set, await self._aresolved(scope, session), key, value,
                                expires_at=expires_at)

    async def adelete(self, scope: Any, key: str, *, session: Any = None) -> None:
        await asyncio.to_thread(self.delete, await self._aresolved(scope, session), key)

    async def aclear(self, scope: Any, *, all_map_indices: bool = False,
                     session: Any = None) -> None:
        await asyncio.to_thread(self.clear, await self._aresolved(scope, session),
                                all_map_indices=all_map_indices)

    async def _aresolved(self, scope: Any, session: Any) -> Any:
        """``scope``, with a server asset id looked up through an async session first (a
        sync call in a thread cannot use it)."""
        if hasattr(scope, "asset_id") and scope.name is None and scope.uri is None \
                and session is not None:
            name = await session.scalar(_name_query(scope.asset_id))
            return AssetScope(name=name) if name else scope
        return scope

    def cleanup(self) -> None:
        """Delete expired task rows, in ``[state_store] state_cleanup_batch_size`` batches."""
        self.expired_cleanup()

    def expired_cleanup(self) -> CleanupReport:
        """:meth:`cleanup`, returning what it deleted."""
        from airflow.configuration import conf

        batch = conf.getint("state_store", "state_cleanup_batch_size", fallback=0)
        return self.client.cleanup(batch_size=max(0, batch))

    # -- worker side ------------------------------------------------------------------

    def serialize_task_state_store_to_ref(self, *, value: JsonValue, key: str,
                                          scope: Any) -> str:
        return self._store_value(self._scope(scope), key, value)

    def deserialize_task_state_store_from_ref(self, stored: str) -> JsonValue:
        return self._load_value(stored)

    def serialize_asset_state_store_to_ref(self, *, value: JsonValue, key: str,
                                           scope: Any) -> str:
        return self._store_value(self._scope(scope), key, value)

    def deserialize_asset_state_store_from_ref(self, stored: str) -> JsonValue:
        return self._load_value(stored)

    def _store_value(self, ours: TaskScope | AssetScope, key: str, value: JsonValue) -> str:
        key = validate_key(key)
        text = encode_value(key, value)  # no size limit: the point of the worker side
        self.client.backend.put(ours, validate_key(value_key(key)), text, expires_at=None,
                                now=_now())
        return ref_for(ours, key)

    def _load_value(self, ref: str) -> JsonValue:
        ours, key = scope_of_ref(ref)
        text = self.client.backend.get(ours, value_key(key), now=_now())
        return None if text is None else decode_value(text)


def _name_query(asset_id: int) -> Any:
    """The query of the name of Airflow's asset ``asset_id`` (server side only)."""
    from airflow.models.asset import AssetModel
    from sqlalchemy import select

    return select(AssetModel.name).where(AssetModel.id == asset_id)


def _asset_name(asset_id: int | None, session: Any) -> str:
    """The name of Airflow's asset ``asset_id``, read through ``session`` (or a new one)."""
    if asset_id is None:
        raise InvalidScopeError("an Airflow AssetScope without asset_id, name or uri")
    query = _name_query(asset_id)
    if session is not None:
        name = session.scalar(query)
    else:
        from airflow.utils.session import create_session

        with create_session() as own:
            name = own.scalar(query)
    if not name:
        raise InvalidScopeError(f"Airflow has no asset with id {asset_id}")
    return str(name)

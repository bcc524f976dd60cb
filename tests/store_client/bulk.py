"""Seed many task rows fast, for cleanup tests and benchmarks (bypasses per-call checks)."""

from __future__ import annotations

from datetime import datetime, timezone

from store_client import StoreClient, TaskScope
from store_client._sql import SqlBackend
from store_client._sql_schema import ensure_schema, task_state


def bulk_put(client: StoreClient, count: int, *, expires_at: datetime | None,
             task: str = "task", chunk: int = 50_000) -> None:
    """Write ``count`` keys ``k0..kN`` to ``dag/run/<task>`` with one expiry."""
    backend = client.backend
    now = datetime.now(timezone.utc)
    if not isinstance(backend, SqlBackend):
        scope = TaskScope("dag", "run", task)
        for i in range(count):
            backend.put(scope, f"k{i}", "1", expires_at=expires_at, now=now)
        return
    ensure_schema(backend.engine)
    for start in range(0, count, chunk):
        rows = [{"dag_id": "dag", "run_id": "run", "task_id": task, "map_index": -1,
                 "key": f"k{i}", "value": "1", "updated_at": now, "expires_at": expires_at}
                for i in range(start, min(count, start + chunk))]
        with backend.engine.begin() as conn:
            conn.execute(task_state.insert(), rows)

"""Worker-side values whose reference Airflow no longer holds: found, and deleted.

How it works: with our store as Airflow's worker-side backend only, Airflow keeps each
reference (and its expiry) in its own ``task_state_store``; ``airflow state-store clean``
deletes expired references there and cannot reach our values. :func:`orphaned_values`
lists our worker-side task values (one indexed scan, each paired with the row under its
own key) and keeps those still referenced: by a row of Airflow's table
(:func:`store_client.airflow_db.our_references`, read-only) or by our own row under the
same key (our backend as the server side too). A value written within ``grace`` is
never an orphan: a worker stores the value first and its reference a moment later.
:func:`delete_orphans` deletes the rest.

What it does not do: asset values (Airflow never expires an asset's state; a deleted or
cleared one is removed with it), or guard against a key rewritten between the check and
the delete (the check skips values written within ``grace``, one hour by default).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

from store_client._airflow_refs import VALUE_PREFIX, ref_for, unwrap, value_key
from store_client._client import StoreClient
from store_client._scopes import TaskScope
from store_client.airflow_db import our_references

__all__ = ["DEFAULT_GRACE", "delete_orphans", "orphaned_values"]

#: Values younger than this are never orphans (their reference may be on its way).
DEFAULT_GRACE: Final = timedelta(hours=1)


def orphaned_values(client: StoreClient, airflow_db: str, *,
                    grace: timedelta = DEFAULT_GRACE) -> list[tuple[TaskScope, str]]:
    """(scope, key) of each worker-side task value no reference holds any more."""
    cutoff = datetime.now(timezone.utc) - grace
    entries = [e for e in client.scan_tasks(VALUE_PREFIX, pair=True) if e.updated_at <= cutoff]
    if not entries:
        return []
    held = our_references(airflow_db)
    found = []
    for entry in entries:
        scope, key = entry.scope, entry.key[len(VALUE_PREFIX):]
        if (scope.dag_id, scope.run_id, scope.task_id, scope.map_index, key) in held:
            continue
        if entry.paired is not None and unwrap(entry.paired) == ref_for(scope, key):
            continue  # our own server side holds the reference
        found.append((scope, key))
    return found


def delete_orphans(client: StoreClient, orphans: list[tuple[TaskScope, str]]) -> int:
    """Delete the values :func:`orphaned_values` found; how many."""
    for scope, key in orphans:
        client.backend.delete(scope, value_key(key))
    return len(orphans)

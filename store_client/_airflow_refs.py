"""Where Airflow's worker-side values live in our store, and the references that name them.

How it works: with ``[workers] state_store_backend`` set to our backend, Airflow's task
and asset accessors hand each value to ``serialize_*_to_ref`` and keep only the returned
reference in Airflow's database (wrapped as ``{"__airflow_state_ref__": ref}``). The value
is stored in our store under the same scope and a key of its own, ``VALUE_PREFIX + key``,
so the reference that Airflow's server side may store under ``key`` itself (when our
backend is the server side too) never overwrites it. A reference is built from the scope
and key alone, so it is the same every time (Airflow requires this: its ``delete`` and
``clear`` rebuild it), and it reads back to them::

    resumable:task/<dag_id>/<run_id>/<task_id>/<map_index>/<key>
    resumable:asset/name/<name>/<key>      resumable:asset/uri/<uri>/<key>

Each part is percent-encoded (``/`` included), so any text round-trips.

What it does not do: store or read anything (``store_client.airflow`` does), or check
the parts beyond their shape (the scope classes check them when built).
"""

from __future__ import annotations

import json
from typing import Final
from urllib.parse import quote, unquote

from store_client._errors import InvalidKeyError
from store_client._scopes import AssetScope, TaskScope

__all__ = ["REF_PREFIX", "VALUE_PREFIX", "ref_for", "scope_of_ref", "unwrap", "value_key"]

#: Keys under which worker-side values are stored (the library's own namespace).
VALUE_PREFIX: Final = "resumable.value/"
#: What every reference of ours starts with.
REF_PREFIX: Final = "resumable:"
#: The key Airflow wraps a reference in, in its own database.
_WRAPPER: Final = "__airflow_state_ref__"


def value_key(key: str) -> str:
    """The key a worker-side value for ``key`` is stored under."""
    return VALUE_PREFIX + key


def _part(text: str) -> str:
    return quote(text, safe="")


def ref_for(scope: TaskScope | AssetScope, key: str) -> str:
    """The reference of ``key``'s value in ``scope``: the same for the same scope and key."""
    if isinstance(scope, TaskScope):
        return (f"{REF_PREFIX}task/{_part(scope.dag_id)}/{_part(scope.run_id)}/"
                f"{_part(scope.task_id)}/{scope.map_index}/{_part(key)}")
    if scope.name is not None:
        return f"{REF_PREFIX}asset/name/{_part(scope.name)}/{_part(key)}"
    return f"{REF_PREFIX}asset/uri/{_part(str(scope.uri))}/{_part(key)}"


def scope_of_ref(ref: str) -> tuple[TaskScope | AssetScope, str]:
    """The scope and key a reference of ours names (``InvalidKeyError`` for any other)."""
    parts = ref[len(REF_PREFIX):].split("/") if ref.startswith(REF_PREFIX) else []
    try:
        if parts[0] == "task" and len(parts) == 6:
            dag, run, task, index, key = parts[1:]
            return TaskScope(unquote(dag), unquote(run), unquote(task), int(index)), unquote(key)
        if parts[0] == "asset" and len(parts) == 4 and parts[1] in ("name", "uri"):
            named = {parts[1]: unquote(parts[2])}
            return AssetScope(**named), unquote(parts[3])
    except (IndexError, ValueError):
        pass
    raise InvalidKeyError(f"{ref[:120]!r} is not a reference written by resumable's store "
                          "backend")


def unwrap(stored: str) -> str | None:
    """Our reference inside Airflow's wrapped JSON text, or None if it holds none."""
    if _WRAPPER not in stored or REF_PREFIX not in stored:
        return None
    try:
        decoded = json.loads(stored)
    except ValueError:
        return None
    ref = decoded.get(_WRAPPER) if isinstance(decoded, dict) else None
    return ref if isinstance(ref, str) and ref.startswith(REF_PREFIX) else None

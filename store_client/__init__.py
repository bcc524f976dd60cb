"""The task/asset store client: scoped key/value stores that outlive retries and runs.

A *task store* belongs to one task instance (dag, run, task, map index) and is shared by
all its tries; its values expire. An *asset store* belongs to one data asset and is shared
by every run; its values never expire. Both hold JSON values. The same API runs on an
in-memory store, SQLite (the embedded default), PostgreSQL, and Airflow 3.3's own stores::

    from store_client import connect, TaskScope, NEVER_EXPIRE

    client = connect()
    ts = client.task_store(TaskScope("dag", "run", "task"))
    ts.set("job_id", "j-1", retention=NEVER_EXPIRE)

Errors form one tree under :class:`StoreError` (see ``store_client._errors``).

Two public modules are imported on their own: ``store_client.airflow`` (needs Airflow
3.3: ``StoreBackend``, our store as Airflow's state backend) and ``store_client.airflow_db``
(Airflow's metadata database, read-only, without Airflow installed).
"""

import logging

from store_client._airflow_context import ContextStores, default_client, from_context
from store_client._backend import (
    CleanupReport,
    CleanupRow,
    ScopeSummary,
    StoreBackend,
    TaskEntry,
)
from store_client._cli import main as cli_main
from store_client._client import StoreClient, connect
from store_client._config import ENV_STORE_URL, StoreSettings, redact_url
from store_client._errors import (
    ConfigurationError,
    InvalidKeyError,
    InvalidRetentionError,
    InvalidScopeError,
    InvalidValueError,
    RetentionTypeError,
    SchemaVersionError,
    StoreAuthError,
    StoreBackendError,
    StoreConflictError,
    StoreError,
    StoreUnavailableError,
    ValueTooLargeError,
)
from store_client._memory import MemoryBackend
from store_client._retry import RetryPolicy
from store_client._scopes import MAX_MAP_INDEX, AssetScope, TaskScope
from store_client._stores import AssetStore, TaskStore
from store_client._values import (
    NEVER_EXPIRE,
    decode_value,
    encode_value,
    format_duration,
    validate_key,
)

logging.getLogger("store_client").addHandler(logging.NullHandler())

__all__ = [
    "ENV_STORE_URL",
    "MAX_MAP_INDEX",
    "NEVER_EXPIRE",
    "AssetScope",
    "AssetStore",
    "CleanupReport",
    "CleanupRow",
    "ConfigurationError",
    "ContextStores",
    "InvalidKeyError",
    "InvalidRetentionError",
    "InvalidScopeError",
    "InvalidValueError",
    "MemoryBackend",
    "RetentionTypeError",
    "RetryPolicy",
    "SchemaVersionError",
    "ScopeSummary",
    "StoreAuthError",
    "StoreBackend",
    "StoreBackendError",
    "StoreClient",
    "StoreConflictError",
    "StoreError",
    "StoreSettings",
    "StoreUnavailableError",
    "TaskEntry",
    "TaskScope",
    "TaskStore",
    "ValueTooLargeError",
    "cli_main",
    "connect",
    "decode_value",
    "default_client",
    "encode_value",
    "format_duration",
    "from_context",
    "redact_url",
    "validate_key",
]

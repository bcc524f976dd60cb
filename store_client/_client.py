"""``connect()`` and :class:`StoreClient`: pick a backend from a URL and hand out stores.

How it works: :func:`connect` resolves settings (keywords, then ``RESUMABLE_*``
environment variables, then defaults), fails on a bad value before connecting, and builds
the backend the URL names: ``memory://``, ``sqlite:///PATH`` (the default: a file under
the user's state directory), ``postgresql+psycopg://...``, or an Airflow 3.3 REST API
(``https://HOST/api/v2``, with ``token=`` or ``username=``/``password=``; see
``store_client._airflow_http``). The client then binds the backend to scopes:
``task_store(TaskScope(...))``, ``asset_store(AssetScope(...))``.

What it does not do: open a connection in ``connect()``; SQL tables are created, and an
Airflow login happens, on the first operation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType

from store_client._backend import CleanupReport, ScopeSummary, StoreBackend, TaskEntry
from store_client._config import StoreSettings, redact_url, resolve_settings
from store_client._errors import ConfigurationError, InvalidKeyError, InvalidScopeError
from store_client._memory import MemoryBackend
from store_client._retry import DEFAULT_RETRY, RetryPolicy
from store_client._scopes import AssetScope, TaskScope
from store_client._stores import AssetStore, TaskStore

__all__ = ["MAX_BATCH_SIZE", "StoreClient", "connect"]

#: The largest cleanup batch (SQL LIMIT takes a 32-bit count everywhere).
MAX_BATCH_SIZE = 2**31 - 1


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class StoreClient:
    """A connection to one store, handing out task and asset stores bound to scopes."""

    def __init__(self, backend: StoreBackend, settings: StoreSettings | None = None, *,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.backend = backend
        self.settings = settings or StoreSettings(url=f"{type(backend).__name__}://")
        self._clock = clock

    def __repr__(self) -> str:
        return f"StoreClient({redact_url(self.settings.url)!r})"

    def task_store(self, scope: TaskScope) -> TaskStore:
        """The store of one task instance (shared by its retries)."""
        if not isinstance(scope, TaskScope):
            raise InvalidScopeError(
                f"task_store() takes a TaskScope, got {type(scope).__name__}")
        return TaskStore(self.backend, scope, self.settings, self._clock)

    def asset_store(self, scope: AssetScope | str) -> AssetStore:
        """The store of one asset; a ``str`` is taken as the asset's name."""
        if isinstance(scope, str):
            scope = AssetScope(name=scope)
        if not isinstance(scope, AssetScope):
            raise InvalidScopeError(
                f"asset_store() takes an AssetScope or a name, got {type(scope).__name__}")
        return AssetStore(self.backend, scope, self.settings, self._clock)

    def scan_tasks(self, key_prefix: str = "", *, pair: bool = False) -> list[TaskEntry]:
        """Every live task-store row of every scope whose key starts with ``key_prefix``,
        oldest first.

        With ``pair=True`` each entry also carries, as ``paired``, the live value of its
        scope's key named by the rest of its key (``"meta/" + name`` -> ``name``): one
        query on the SQL store, however many rows it finds. On SQL the prefix is an index
        range, so the cost follows the rows found, not the table.
        """
        if not isinstance(key_prefix, str) or "\x00" in key_prefix:
            raise InvalidKeyError(f"key_prefix must be a str without NUL, got {key_prefix!r:.60}")
        if not isinstance(pair, bool):
            raise InvalidKeyError(f"pair must be True or False, got {pair!r:.60}")
        return self.backend.scan_tasks(key_prefix, now=self._clock(), pair=pair)

    def scopes(self) -> list[ScopeSummary]:
        """Every task scope and asset with live keys (tasks first), with the number of
        keys and when one last changed. An asset shows under the string its values are
        stored by (its name, else its URI)."""
        return self.backend.scopes(now=self._clock())

    def cleanup(self, *, dry_run: bool = False, batch_size: int = 0) -> CleanupReport:
        """Delete expired task-store rows, in batches of ``batch_size`` (0 = one statement).

        ``NEVER_EXPIRE`` rows and asset rows are never touched. With ``dry_run=True``
        nothing is deleted and the report lists every row that would be. Each batch
        walks the ``expires_at`` index, so its time does not grow with the table. On
        SQLite, which has one writer at a time, each batch is followed by a pause as
        long as it took, so tasks writing meanwhile get in between batches.
        """
        if type(batch_size) is not int or not 0 <= batch_size <= MAX_BATCH_SIZE:
            raise ConfigurationError(
                f"batch_size must be a whole number from 0 to {MAX_BATCH_SIZE}, got "
                f"{batch_size!r:.60}")
        if not isinstance(dry_run, bool):
            raise ConfigurationError(f"dry_run must be True or False, got {dry_run!r:.60}")
        return self.backend.cleanup(now=self._clock(), dry_run=dry_run, batch_size=batch_size)

    def close(self) -> None:
        """Release the backend's connections."""
        self.backend.close()

    def __enter__(self) -> StoreClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _backend_for(settings: StoreSettings, retry: RetryPolicy) -> StoreBackend:
    if settings.scheme == "memory":
        return MemoryBackend()
    if settings.scheme in ("sqlite", "postgresql", "postgres"):
        from store_client._sql import SqlBackend  # SQLAlchemy loads only when needed

        return SqlBackend(settings, retry=retry)
    if settings.scheme in ("http", "https"):
        from store_client._airflow_http import AirflowHttpBackend  # httpx loads when needed

        return AirflowHttpBackend(settings.url, token=settings.token,
                                  username=settings.username, password=settings.password,
                                  retry=retry)
    raise ConfigurationError(
        f"store URL {redact_url(settings.url)!r}: unsupported scheme {settings.scheme!r}; use "
        "memory://, sqlite://, postgresql+psycopg:// or https://AIRFLOW/api/v2")


def connect(
    url: str | None = None,
    *,
    default_retention_days: int | None = None,
    max_value_bytes: int | None = None,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    retry: RetryPolicy | None = None,
    clock: Callable[[], datetime] | None = None,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    lock_timeout: float | None = None,
    create: bool = True,
) -> StoreClient:
    """Connect to a store. What is not given comes from the environment.

    ``url`` (``RESUMABLE_STORE_URL``; default: a SQLite file under the user's state
    directory), ``default_retention_days`` (``RESUMABLE_DEFAULT_RETENTION_DAYS``, 30;
    0 = never expire), ``max_value_bytes`` (``RESUMABLE_MAX_VALUE_BYTES``, 65536; 0 = no
    limit). For an Airflow REST API URL (``https://HOST/api/v2``): ``token`` (a bearer
    token; ``RESUMABLE_AIRFLOW_TOKEN`` when none of the three is given), or ``username``
    and ``password`` (exchanged for tokens at ``/auth/token``, again when one expires).
    ``retry`` bounds the retries of an unavailable store; ``clock`` returns the current
    aware UTC time (for tests). SQL stores bound every wait, in seconds:
    ``connect_timeout`` (``RESUMABLE_CONNECT_TIMEOUT``, 5), ``statement_timeout``
    (``RESUMABLE_STATEMENT_TIMEOUT``, 30) and ``lock_timeout`` (``RESUMABLE_LOCK_TIMEOUT``,
    10). ``create=False`` never creates a store (file, folder or tables): a missing one
    raises ``ConfigurationError``, as read-only tools want.

    Every value is checked here: a bad one raises ``ConfigurationError`` naming the
    keyword or variable, and nothing is created or written.
    """
    settings = resolve_settings(
        url, default_retention_days=default_retention_days, max_value_bytes=max_value_bytes,
        token=token, username=username, password=password, connect_timeout=connect_timeout,
        statement_timeout=statement_timeout, lock_timeout=lock_timeout, create=create)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ConfigurationError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
    if clock is not None and not callable(clock):
        raise ConfigurationError(f"clock must be callable, got {type(clock).__name__}")
    backend = _backend_for(settings, retry or DEFAULT_RETRY)
    return StoreClient(backend, settings, clock=clock or _utcnow)

"""The store client's exceptions: one tree, rooted at :class:`StoreError`.

::

    StoreError
     ├── InvalidKeyError          (also ValueError)   empty, too long, NUL, lone surrogate
     ├── InvalidValueError        (also ValueError)   None, NaN, Inf, non-JSON types
     │    └── ValueTooLargeError                      encoded value over max_value_bytes
     ├── InvalidRetentionError    (also ValueError)   zero, negative or too large timedelta
     ├── RetentionTypeError       (also TypeError)    retention that is not a timedelta
     ├── InvalidScopeError        (also ValueError)   bad TaskScope/AssetScope fields
     ├── ConfigurationError       (also ValueError)   bad URL, keyword or environment variable;
     │                                                 no store there (connect(create=False))
     ├── SchemaVersionError                           store written by a newer release
     ├── StoreUnavailableError                        connection lost or timed out, after retries
     ├── StoreAuthError                               the store refused our credentials
     │                                                 (HTTP 401/403, a PostgreSQL role)
     ├── StoreConflictError                           an update lost to other writers every
     │                                                 time it was tried (bounded attempts)
     └── StoreBackendError                            any other failure of the backend

Validation errors subclass the matching built-in (``ValueError``/``TypeError``) so that
code written against Airflow's accessor, which raises plain ``ValueError``, keeps working.
Backends translate third-party exceptions into this tree at their boundary with
``raise ... from exc``; nothing from SQLAlchemy or httpx escapes a store call.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "InvalidKeyError",
    "InvalidRetentionError",
    "InvalidScopeError",
    "InvalidValueError",
    "RetentionTypeError",
    "SchemaVersionError",
    "StoreAuthError",
    "StoreBackendError",
    "StoreConflictError",
    "StoreError",
    "StoreUnavailableError",
    "ValueTooLargeError",
]


class StoreError(Exception):
    """Base class of every error raised by the store client."""


class InvalidKeyError(StoreError, ValueError):
    """A key is not a non-empty string of at most 250 characters."""


class InvalidValueError(StoreError, ValueError):
    """A value is not storable JSON (None, NaN, +/-Inf, or a non-JSON type)."""


class ValueTooLargeError(InvalidValueError):
    """A value's JSON encoding is larger than ``max_value_bytes``."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(
            f"value for key {key!r} is {size} bytes as JSON, over the limit of {limit} bytes "
            "(max_value_bytes / RESUMABLE_MAX_VALUE_BYTES)"
        )
        self.key = key
        self.size = size
        self.limit = limit


class InvalidRetentionError(StoreError, ValueError):
    """A retention timedelta is zero, negative, or too large to add to the current time."""


class RetentionTypeError(StoreError, TypeError):
    """A retention is neither ``None`` nor a ``datetime.timedelta``."""


class InvalidScopeError(StoreError, ValueError):
    """A :class:`TaskScope` or :class:`AssetScope` field is missing or malformed."""


class ConfigurationError(StoreError, ValueError):
    """A store URL, ``connect()`` keyword or environment variable has a bad value."""


class SchemaVersionError(StoreError):
    """The store's schema was written by a newer release than this one."""


class StoreUnavailableError(StoreError):
    """The store could not be reached (connection refused, lost, or timed out).

    Raised only after the bounded retries of the backend's retry policy ran out.
    """


class StoreAuthError(StoreError):
    """The store rejected the client's credentials (HTTP 401/403, PostgreSQL's role or
    password check). Not retried."""


class StoreBackendError(StoreError):
    """The backend failed in a way that retrying would not fix."""


class StoreConflictError(StoreError):
    """An update found the value changed by another writer on every attempt it had."""

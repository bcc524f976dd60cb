"""How the SQL store's errors map to the store client's error tree.

How it works: :func:`translate` reads the first line of the database's message and
decides. A missing database or refused credentials will not change on a retry
(``ConfigurationError``, ``StoreAuthError``); a transient failure (connection refused or
lost, a timeout, SQLite "database is locked") is ``StoreUnavailableError``, retried by
the caller's policy; anything else is ``StoreBackendError``. The caller says whether the
failure is transient (:func:`sa_transient` for SQLAlchemy's errors; the DBAPI's
``OperationalError``/``InterfaceError`` on the direct path).

What it does not do: retry, or log.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import exc as sa_exc

from store_client._errors import (
    ConfigurationError,
    StoreAuthError,
    StoreBackendError,
    StoreError,
    StoreUnavailableError,
)

__all__ = ["sa_transient", "translate"]

_NO_DATABASE: Final = "FATAL:  database"
_AUTH_FAILED: Final = ("password authentication failed", "FATAL:  role",
                       "no pg_hba.conf entry", "no password supplied")


def sa_transient(exc: sa_exc.SQLAlchemyError) -> bool:
    """Whether a SQLAlchemy error is worth a retry (connection or timeout trouble)."""
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError,
                            sa_exc.TimeoutError)) or bool(
        getattr(exc, "connection_invalidated", False))


def translate(exc: Exception, where: str, transient: bool) -> StoreError:
    """Map a SQLAlchemy or DBAPI error to the store client's error tree."""
    detail = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:300]
    # A server that answers but refuses who we are, or has no such database, will not
    # change its mind on a retry (libpq gives these no SQLSTATE: the text tells).
    if _NO_DATABASE in detail:
        return ConfigurationError(f"store {where}: {detail} (check the URL)")
    if any(marker in detail for marker in _AUTH_FAILED):
        return StoreAuthError(f"store {where} refused the credentials: {detail}")
    if transient:
        return StoreUnavailableError(f"store {where} is unavailable: {detail}")
    return StoreBackendError(f"store {where} failed: {detail}")

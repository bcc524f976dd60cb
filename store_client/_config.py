"""Settings for ``connect()``: keywords first, then environment variables, then defaults.

How it works: :func:`resolve_settings` turns the keywords given to ``connect()`` and the
``RESUMABLE_*`` environment variables into one frozen :class:`StoreSettings`, checking
every value once. A bad value raises :class:`ConfigurationError` naming the keyword or
the variable it came from, before anything connects or writes.

The default store is a SQLite file under the user's state directory:
``$XDG_STATE_HOME/resumable/store.db`` (``~/.local/state/resumable/store.db`` when
``XDG_STATE_HOME`` is unset; ``%LOCALAPPDATA%`` on Windows,
``~/Library/Application Support`` on macOS).

What it does not do: read configuration files.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from store_client._errors import ConfigurationError

__all__ = ["ENV_DEFAULT_RETENTION_DAYS", "ENV_MAX_VALUE_BYTES", "ENV_STORE_URL",
           "StoreSettings", "default_store_path", "resolve_settings"]

ENV_STORE_URL: Final = "RESUMABLE_STORE_URL"
ENV_DEFAULT_RETENTION_DAYS: Final = "RESUMABLE_DEFAULT_RETENTION_DAYS"
ENV_MAX_VALUE_BYTES: Final = "RESUMABLE_MAX_VALUE_BYTES"

DEFAULT_RETENTION_DAYS: Final = 30
DEFAULT_MAX_VALUE_BYTES: Final = 65536
_SCHEMES: Final = ("memory", "sqlite", "postgresql", "postgres", "http", "https")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The resolved configuration of one store client."""

    url: str
    default_retention_days: int = DEFAULT_RETENTION_DAYS
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES

    @property
    def scheme(self) -> str:
        """The URL scheme without a driver suffix: ``sqlite``, ``postgresql``, ..."""
        return self.url.partition(":")[0].partition("+")[0].lower()


def default_store_path(environ: Mapping[str, str] = os.environ) -> Path:
    """The embedded store's file: ``<user state dir>/resumable/store.db``."""
    if sys.platform == "win32" and environ.get("LOCALAPPDATA"):
        base = Path(environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif environ.get("XDG_STATE_HOME"):
        base = Path(environ["XDG_STATE_HOME"])
    else:
        base = Path.home() / ".local" / "state"
    return base / "resumable" / "store.db"


def _int_setting(
    given: object, env_name: str, keyword: str, default: int, environ: Mapping[str, str]
) -> int:
    """Resolve a non-negative int from a keyword, else an environment variable."""
    if given is not None:
        if type(given) is not int:
            raise ConfigurationError(
                f"{keyword} must be an int, got {type(given).__name__}: {given!r:.60}"
            )
        source, value = f"{keyword}={given!r}", given
    elif env_name in environ:
        raw = environ[env_name].strip()
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"{env_name}={environ[env_name]!r} is not a whole number"
            ) from None
        source = f"{env_name}={raw!r}"
    else:
        return default
    if value < 0:
        raise ConfigurationError(f"{source} must be 0 or more")
    return value


def _check_url(url: object, source: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"{source} must be a non-empty URL string, got {url!r:.60}")
    url = url.strip()
    scheme = url.partition(":")[0].partition("+")[0].lower()
    if "://" not in url or scheme not in _SCHEMES:
        raise ConfigurationError(
            f"{source}={url!r:.80} is not a store URL; use memory://, sqlite:///PATH, "
            "postgresql+psycopg://USER@HOST/DB or https://AIRFLOW/api/v2"
        )
    return url


def resolve_settings(
    url: str | None = None,
    *,
    default_retention_days: int | None = None,
    max_value_bytes: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> StoreSettings:
    """Resolve ``connect()`` keywords and the environment into :class:`StoreSettings`."""
    env = os.environ if environ is None else environ
    if url is not None:
        resolved = _check_url(url, "url")
    elif env.get(ENV_STORE_URL, "").strip():
        resolved = _check_url(env[ENV_STORE_URL], ENV_STORE_URL)
    else:
        resolved = f"sqlite:///{default_store_path(env)}"
    return StoreSettings(
        url=resolved,
        default_retention_days=_int_setting(
            default_retention_days, ENV_DEFAULT_RETENTION_DAYS, "default_retention_days",
            DEFAULT_RETENTION_DAYS, env,
        ),
        max_value_bytes=_int_setting(
            max_value_bytes, ENV_MAX_VALUE_BYTES, "max_value_bytes", DEFAULT_MAX_VALUE_BYTES,
            env,
        ),
    )

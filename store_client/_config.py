"""Settings for ``connect()``: keywords first, then environment variables, then defaults.

How it works: :func:`resolve_settings` turns the keywords given to ``connect()`` and the
``RESUMABLE_*`` environment variables into one frozen :class:`StoreSettings`, checking
every value once. A bad value raises :class:`ConfigurationError` naming the keyword or
the variable it came from, before anything connects or writes.

The default store is a SQLite file under the user's state directory:
``$XDG_STATE_HOME/resumable/store.db`` (``~/.local/state/resumable/store.db`` when
``XDG_STATE_HOME`` is unset; ``%LOCALAPPDATA%`` on Windows,
``~/Library/Application Support`` on macOS).

For an Airflow REST API URL (``https://HOST[/PREFIX]/api/v2``; ``http://`` too, e.g. on
loopback) the settings also carry its credentials: ``token=``, or ``username=`` and
``password=``, given to ``connect()``; when none of the three is given, the token comes
from ``RESUMABLE_AIRFLOW_TOKEN`` (if set). Secrets are kept out of ``repr`` and out of
every error message. Credentials given for another kind of store are an error; the
variable is then ignored.

What it does not do: read configuration files, or put credentials in the URL (refused).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from store_client._errors import ConfigurationError

__all__ = ["ENV_AIRFLOW_TOKEN", "ENV_DEFAULT_RETENTION_DAYS", "ENV_MAX_VALUE_BYTES",
           "ENV_STORE_URL", "StoreSettings", "default_store_path", "resolve_settings"]

ENV_STORE_URL: Final = "RESUMABLE_STORE_URL"
ENV_DEFAULT_RETENTION_DAYS: Final = "RESUMABLE_DEFAULT_RETENTION_DAYS"
ENV_MAX_VALUE_BYTES: Final = "RESUMABLE_MAX_VALUE_BYTES"
ENV_AIRFLOW_TOKEN: Final = "RESUMABLE_AIRFLOW_TOKEN"

DEFAULT_RETENTION_DAYS: Final = 30
DEFAULT_MAX_VALUE_BYTES: Final = 65536
_SCHEMES: Final = ("memory", "sqlite", "postgresql", "postgres", "http", "https")
_HTTP_SCHEMES: Final = ("http", "https")
_AIRFLOW_API_PATH: Final = "/api/v2"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The resolved configuration of one store client."""

    url: str
    default_retention_days: int = DEFAULT_RETENTION_DAYS
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    #: Airflow REST API only: a bearer token, and/or a user name and password to log in.
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

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
    if scheme in _HTTP_SCHEMES:
        return _check_airflow_url(url, source)
    return url


def _check_airflow_url(url: str, source: str) -> str:
    """An Airflow REST API root: a host, a path ending in /api/v2, nothing else."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ConfigurationError(f"{source} is not a valid URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(  # the URL is not echoed: it holds a secret
            f"{source}: an Airflow REST API URL must not hold a user name or password; pass "
            f"token= (or set {ENV_AIRFLOW_TOKEN}), or username= and password= to connect()")
    path = parts.path.rstrip("/")
    if (parts.scheme not in _HTTP_SCHEMES or not parts.hostname or parts.query
            or parts.fragment or not path.endswith(_AIRFLOW_API_PATH)):
        raise ConfigurationError(
            f"{source}={url!r:.80} is not an Airflow REST API URL: give the API root, "
            f"ending in {_AIRFLOW_API_PATH} (e.g. https://airflow.example/api/v2)")
    return parts._replace(path=path).geturl()


def _check_token(token: object, source: str) -> str:
    if not isinstance(token, str):
        raise ConfigurationError(f"{source} must be a str, got {type(token).__name__}")
    token = token.strip()
    if not token:
        raise ConfigurationError(f"{source} must not be empty")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise ConfigurationError(  # the token is not echoed
            f"{source} must be a bare bearer token (printable ASCII, no spaces, without "
            "'Bearer ')")
    return token


def _credentials(
    url: str, token: object, username: object, password: object, env: Mapping[str, str]
) -> tuple[str | None, str | None, str | None]:
    """(token, username, password) for ``url``: keywords, else ``RESUMABLE_AIRFLOW_TOKEN``."""
    given = [name for name, value in (("token", token), ("username", username),
                                      ("password", password)) if value is not None]
    scheme = url.partition(":")[0].lower()
    if scheme not in _HTTP_SCHEMES:
        if given:
            raise ConfigurationError(
                f"{'/'.join(f'{n}=' for n in given)} only apply to an Airflow REST API URL "
                f"(https://AIRFLOW/api/v2), not to a {scheme}:// store")
        return None, None, None
    if not given:
        raw = env.get(ENV_AIRFLOW_TOKEN, "")
        return (_check_token(raw, ENV_AIRFLOW_TOKEN) if raw.strip() else None), None, None
    if (username is None) != (password is None):
        missing = "password=" if password is None else "username="
        raise ConfigurationError(f"username= and password= go together: {missing} is missing")
    for name, value in (("username", username), ("password", password)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"{name} must be a non-empty str")
    return (None if token is None else _check_token(token, "token"),
            username if isinstance(username, str) else None,
            password if isinstance(password, str) else None)


def resolve_settings(
    url: str | None = None,
    *,
    default_retention_days: int | None = None,
    max_value_bytes: int | None = None,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
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
    bearer, user, secret = _credentials(resolved, token, username, password, env)
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
        token=bearer,
        username=user,
        password=secret,
    )

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

Every wait of a SQL store is bounded: ``connect_timeout`` (opening a connection),
``statement_timeout`` (one statement, enforced by the server and, for a server that
stopped answering, by the client) and ``lock_timeout`` (waiting for a row or table lock;
SQLite's busy timeout), in seconds, from the keywords of the same names or
``RESUMABLE_CONNECT_TIMEOUT``, ``RESUMABLE_STATEMENT_TIMEOUT``, ``RESUMABLE_LOCK_TIMEOUT``.

URLs are shown only through :func:`redact_url` (``repr``, messages, logs): a password in
the URL, or in a ``password=`` query parameter, is never printed.

What it does not do: read configuration files, or put credentials in an Airflow URL
(refused).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from store_client._errors import ConfigurationError

__all__ = ["ENV_AIRFLOW_TOKEN", "ENV_CONNECT_TIMEOUT", "ENV_DEFAULT_RETENTION_DAYS",
           "ENV_LOCK_TIMEOUT", "ENV_MAX_VALUE_BYTES", "ENV_STATEMENT_TIMEOUT", "ENV_STORE_URL",
           "StoreSettings", "default_store_path", "redact_url", "resolve_settings"]

ENV_STORE_URL: Final = "RESUMABLE_STORE_URL"
ENV_DEFAULT_RETENTION_DAYS: Final = "RESUMABLE_DEFAULT_RETENTION_DAYS"
ENV_MAX_VALUE_BYTES: Final = "RESUMABLE_MAX_VALUE_BYTES"
ENV_AIRFLOW_TOKEN: Final = "RESUMABLE_AIRFLOW_TOKEN"
ENV_CONNECT_TIMEOUT: Final = "RESUMABLE_CONNECT_TIMEOUT"
ENV_STATEMENT_TIMEOUT: Final = "RESUMABLE_STATEMENT_TIMEOUT"
ENV_LOCK_TIMEOUT: Final = "RESUMABLE_LOCK_TIMEOUT"

DEFAULT_RETENTION_DAYS: Final = 30
DEFAULT_MAX_VALUE_BYTES: Final = 65536
DEFAULT_CONNECT_TIMEOUT: Final = 5.0
DEFAULT_STATEMENT_TIMEOUT: Final = 30.0
DEFAULT_LOCK_TIMEOUT: Final = 10.0
_MAX_TIMEOUT: Final = 86400.0
_SECRET_PARAMS: Final = frozenset({"password", "sslpassword", "token", "access_token"})
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
    #: Seconds: opening a connection, one statement, one lock wait (SQL stores).
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    #: False: never create a store (file, folder or tables); a missing one is an error.
    create: bool = True

    def __repr__(self) -> str:
        return (f"StoreSettings(url={redact_url(self.url)!r}, "
                f"default_retention_days={self.default_retention_days}, "
                f"max_value_bytes={self.max_value_bytes}, username={self.username!r}, "
                f"connect_timeout={self.connect_timeout}, "
                f"statement_timeout={self.statement_timeout}, "
                f"lock_timeout={self.lock_timeout}, create={self.create})")

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


def redact_url(url: str) -> str:
    """``url`` safe to print: the password (in the authority or a query parameter) masked.

    A bad port is shown as it is (the mistake to fix); a URL that does not split at all
    (an unbalanced IPv6 bracket) is reduced to its scheme, since it may hold anything.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{url.partition(':')[0][:20]}://<unparseable URL>"
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs],
                          safe="*/:")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # nothing to hide: keep it exactly as given (``sqlite:///`` included)
    return parts._replace(netloc=netloc, query=query).geturl()


def _retention_days(days: int, source: str) -> int:
    """``days`` if a write made today can expire that many days later (year 9999)."""
    try:
        datetime.now(timezone.utc) + timedelta(days=days)
    except OverflowError:
        raise ConfigurationError(
            f"{source}: {days} days from now is past the year 9999; use 0 for values "
            "that never expire") from None
    return days


def _timeout(given: object, env_name: str, keyword: str, default: float,
             environ: Mapping[str, str]) -> float:
    """Resolve a timeout in seconds: finite, above 0, at most a day."""
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, (int, float)):
            raise ConfigurationError(
                f"{keyword} must be a number of seconds, got {type(given).__name__}: "
                f"{given!r:.60}")
        source, value = f"{keyword}={given!r}", float(given)
    elif environ.get(env_name, "").strip():
        raw = environ[env_name].strip()
        try:
            value = float(raw)
        except ValueError:
            raise ConfigurationError(
                f"{env_name}={raw!r:.60} is not a number of seconds") from None
        source = f"{env_name}={raw!r:.60}"
    else:
        return default
    if not math.isfinite(value) or not 0 < value <= _MAX_TIMEOUT:
        raise ConfigurationError(
            f"{source} must be more than 0 and at most {_MAX_TIMEOUT:.0f} seconds")
    return value


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
        raise ConfigurationError(
            f"{source} must be a non-empty URL string, got {type(url).__name__}")
    url = url.strip()
    scheme = url.partition(":")[0].partition("+")[0].lower()
    if "://" not in url or scheme not in _SCHEMES:
        raise ConfigurationError(
            f"{source}={redact_url(url)!r:.80} is not a store URL; use memory://, "
            "sqlite:///PATH, postgresql+psycopg://USER@HOST/DB or https://AIRFLOW/api/v2")
    if scheme in _HTTP_SCHEMES:
        return _check_airflow_url(url, source)
    if scheme == "sqlite":
        return _check_sqlite_url(url, source)
    if scheme in ("postgresql", "postgres"):
        _check_port(url, source)
    return url


def _check_port(url: str, source: str) -> None:
    try:
        port = urlsplit(url).port
    except ValueError:
        port = -1
    if port == 0 or port == -1:
        raise ConfigurationError(
            f"{source}={redact_url(url)!r:.80}: the port must be a number from 1 to 65535")


def _check_sqlite_url(url: str, source: str) -> str:
    """``sqlite:///PATH`` with ``~`` expanded; ``sqlite://`` alone is an in-memory database."""
    head, sep, rest = url.partition(":///")
    if not sep:
        if url.partition("?")[0] in ("sqlite://", "sqlite+pysqlite://"):
            return url
        raise ConfigurationError(
            f"{source}={redact_url(url)!r:.80}: a SQLite URL is sqlite:///PATH (three "
            "slashes, then a relative path, or four for an absolute one)")
    path, qmark, query = rest.partition("?")
    if path.startswith("~"):
        path = str(Path(path).expanduser())
    return f"{head}:///{path}{qmark}{query}"


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
            f"{source}={redact_url(url)!r:.80} is not an Airflow REST API URL: give the API "
            f"root, ending in {_AIRFLOW_API_PATH} (e.g. https://airflow.example/api/v2)")
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
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
    lock_timeout: float | None = None,
    create: bool = True,
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
    if not isinstance(create, bool):
        raise ConfigurationError(f"create must be True or False, got {create!r:.60}")
    days = _int_setting(default_retention_days, ENV_DEFAULT_RETENTION_DAYS,
                        "default_retention_days", DEFAULT_RETENTION_DAYS, env)
    _retention_days(days, "default_retention_days" if default_retention_days is not None
                    else ENV_DEFAULT_RETENTION_DAYS)
    return StoreSettings(
        url=resolved,
        default_retention_days=days,
        max_value_bytes=_int_setting(
            max_value_bytes, ENV_MAX_VALUE_BYTES, "max_value_bytes", DEFAULT_MAX_VALUE_BYTES,
            env,
        ),
        token=bearer,
        username=user,
        password=secret,
        connect_timeout=_timeout(connect_timeout, ENV_CONNECT_TIMEOUT, "connect_timeout",
                                 DEFAULT_CONNECT_TIMEOUT, env),
        statement_timeout=_timeout(statement_timeout, ENV_STATEMENT_TIMEOUT,
                                   "statement_timeout", DEFAULT_STATEMENT_TIMEOUT, env),
        lock_timeout=_timeout(lock_timeout, ENV_LOCK_TIMEOUT, "lock_timeout",
                              DEFAULT_LOCK_TIMEOUT, env),
        create=create,
    )

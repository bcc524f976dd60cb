"""One HTTP session with Airflow 3.3's REST API: bearer auth, error translation, retries.

How it works: :class:`AirflowSession` wraps one ``httpx.Client`` whose base URL is the
API root (``https://HOST[/PREFIX]/api/v2``). Each :meth:`AirflowSession.request` runs one
*attempt* under the client's :class:`RetryPolicy` (tenacity); an attempt sends the
request with ``Authorization: Bearer <token>`` and translates the answer:

- a transport error (refused, reset, DNS) or a timeout, 429 and every 5xx become
  :class:`StoreUnavailableError`, which the policy retries with backoff, then re-raises;
- 401, 403 become :class:`StoreAuthError` with what to do about it; 422 (the server's
  validation refused the body) becomes :class:`InvalidValueError` quoting its detail;
- 404 is handed back to the caller, which knows what it means (absent key, unknown task
  instance or asset), except a 404 for a route the server does not have at all (an older
  Airflow, or a URL not ending in the API root), which is a :class:`StoreBackendError`;
- redirects are not followed (a bearer token must not travel to another address): a 3xx
  and any other status are :class:`StoreBackendError`.

Every httpx exception is translated here with ``raise ... from exc``; none escapes.

Tokens: a given token is used as is. With ``username``/``password`` the session logs in
at ``POST <root>/auth/token`` (201 ``{"access_token": ...}``) before its first request,
and again, once per request, when the server rejects the token (401, e.g. "Token
Expired", or 403 "Invalid JWT token", which is what a token signed with a rotated
secret gets); the re-login is shared by threads (a lock, and a thread that finds the
token already renewed uses it). Without credentials a rejected token is a
:class:`StoreAuthError`.

What it does not do: honour ``Retry-After`` (the policy's backoff applies), follow
redirects, or pool beyond httpx's defaults.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

import httpx

from store_client._errors import (
    ConfigurationError,
    InvalidValueError,
    StoreAuthError,
    StoreBackendError,
    StoreUnavailableError,
)
from store_client._retry import DEFAULT_RETRY, RetryPolicy

__all__ = ["API_PATH", "AirflowSession", "response_detail"]

API_PATH: Final = "/api/v2"
_LOGIN_PATH: Final = "/auth/token"
_DETAIL_LIMIT: Final = 300


def _body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None if there is none or it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def response_detail(response: httpx.Response) -> str:
    """The server's explanation: FastAPI's ``detail`` (pydantic errors summarized)."""
    body = _body(response)
    if isinstance(body, dict):
        detail = body.get("detail", body.get("error"))
        if isinstance(detail, str):
            return detail[:_DETAIL_LIMIT]
        if isinstance(detail, list):
            parts = []
            for error in detail:
                if isinstance(error, dict):
                    loc = ".".join(str(p) for p in error.get("loc", ())[1:])
                    parts.append(f"{loc}: {error.get('msg')}" if loc else str(error.get("msg")))
            return "; ".join(parts)[:_DETAIL_LIMIT]
    text = response.text.strip().splitlines()
    return text[0][:_DETAIL_LIMIT] if text else response.reason_phrase


def _route_missing(response: httpx.Response) -> bool:
    """True for a 404 meaning "no such route", not "no such key/task/asset"."""
    body = _body(response)
    if not isinstance(body, dict):
        return True
    return body.get("error") == "API route not found" or body.get("detail") == "Not Found"


def _token_rejected(response: httpx.Response) -> bool:
    """True if the server refused the token itself (missing, expired, or not its own)."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and response_detail(response) == "Invalid JWT token"


class AirflowSession:
    """Requests to one Airflow REST API, authenticated, translated and retried."""

    def __init__(self, api_url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, retry: RetryPolicy = DEFAULT_RETRY,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        if not self.api_url.endswith(API_PATH):
            raise ConfigurationError(
                f"Airflow REST API URL {api_url!r} must end with {API_PATH}")
        if (username is None) != (password is None):
            raise ConfigurationError("username= and password= must be given together")
        self.login_url = self.api_url[: -len(API_PATH)] + _LOGIN_PATH
        self.retry = retry
        self._token = token
        self._credentials = None if username is None else {"username": username,
                                                           "password": password}
        self._lock = threading.Lock()
        try:
            self._http = httpx.Client(
                base_url=self.api_url + "/", timeout=timeout, transport=transport,
                follow_redirects=False, headers={"Accept": "application/json"})
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise ConfigurationError(f"Airflow REST API URL {api_url!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"AirflowSession({self.api_url!r})"

    # -- public ---------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, str | int] | None = None,
                content: str | None = None) -> httpx.Response:
        """Send ``method path`` (relative to the API root); a 2xx or a 404 comes back."""
        return self.retry.call(self._attempt, method, path, params, content)

    def json(self, response: httpx.Response) -> Any:
        """The JSON body of a successful answer; anything else is a backend error."""
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise StoreBackendError(
                f"{self._what(response)} answered {response.status_code} with {kind}, not "
                f"JSON; is {self.api_url} the REST API of Airflow 3.3 or later?") from None

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    # -- one attempt ----------------------------------------------------------------

    def _attempt(self, method: str, path: str, params: dict[str, str | int] | None,
                 content: str | None) -> httpx.Response:
        token = self._token
        if token is None and self._credentials is not None:
            token = self._login(stale=None)
        response = self._send(method, path, params, content, token)
        if self._credentials is not None and _token_rejected(response):
            token = self._login(stale=token)
            response = self._send(method, path, params, content, token)
        self._check(response)
        return response

    def _send(self, method: str, url: str, params: dict[str, str | int] | None,
              content: str | None, token: str | None) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._http.request(method, url, params=params, content=content,
                                      headers=headers)
        except httpx.TimeoutException as exc:
            raise StoreUnavailableError(
                f"Airflow REST API {self.api_url} timed out ({type(exc).__name__}) on "
                f"{method} {url}") from exc
        except httpx.TransportError as exc:
            raise StoreUnavailableError(
                f"Airflow REST API {self.api_url} is unreachable: {type(exc).__name__}: "
                f"{exc}") from exc
        except httpx.HTTPError as exc:
            raise StoreBackendError(
                f"Airflow REST API {self.api_url} failed on {method} {url}: "
                f"{type(exc).__name__}: {exc}") from exc

    def _login(self, *, stale: str | None) -> str:
        """Exchange the credentials for a new token (once, if several threads ask)."""
        assert self._credentials is not None
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            response = self._send("POST", self.login_url, None,
                                  json.dumps(self._credentials), None)
            user = self._credentials["username"]
            if response.status_code in (400, 401, 403, 422):
                raise StoreAuthError(
                    f"Airflow at {self.login_url} refused the login of user {user!r}: "
                    f"{response.status_code} {response_detail(response)}")
            if response.status_code == 404:
                raise StoreAuthError(
                    f"Airflow has no token endpoint at {self.login_url} (404): its auth "
                    "manager does not issue tokens for a user name and password; pass token=")
            self._check(response)
            body = _body(response)
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise StoreBackendError(
                    f"{self.login_url} answered {response.status_code} without an access_token")
            self._token = token
            return token

    # -- translation ----------------------------------------------------------------

    def _what(self, response: httpx.Response) -> str:
        return f"Airflow REST API {response.request.method} {response.request.url.path}"

    def _check(self, response: httpx.Response) -> None:
        """Raise the store error an answer means; return for a 2xx or a meaningful 404."""
        status = response.status_code
        if status < 300 or (status == 404 and not _route_missing(response)):
            return
        what, detail = self._what(response), response_detail(response)
        if status in (401, 403):
            raise StoreAuthError(
                f"{what} refused: {status} {detail}. {self._auth_hint(status, detail)}")
        if status == 422:
            raise InvalidValueError(f"{what} refused the request (422): {detail}")
        if status == 429 or status >= 500:
            raise StoreUnavailableError(f"{what} answered {status}: {detail}")
        if status == 404:
            raise StoreBackendError(
                f"{what} is not a route of this server (404 {detail}); the store URL must be "
                f"the REST API of Airflow 3.3 or later, ending in {API_PATH}")
        if 300 <= status < 400:
            raise StoreBackendError(
                f"{what} was redirected ({status}) to {response.headers.get('location')!r}; "
                "put the final address in the store URL (redirects are not followed)")
        raise StoreBackendError(f"{what} answered {status}: {detail}")

    def _auth_hint(self, status: int, detail: str) -> str:
        if status == 403 and detail != "Invalid JWT token":
            return ("The user may not do this: it needs access to the DAG's task instances "
                    "or to assets.")
        if self._credentials is not None:
            return "A fresh login with username= and password= was refused too."
        if self._token is None:
            return ("No credentials were given: pass token= (or set RESUMABLE_AIRFLOW_TOKEN), "
                    "or username= and password= to connect().")
        return ("The token was refused (expired, or not issued by this Airflow); pass a fresh "
                "token, or username= and password= so the client can log in again by itself.")

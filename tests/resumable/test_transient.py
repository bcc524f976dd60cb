"""The default transient-error test, on real exception objects from builtins, httpx,
requests and botocore: connection errors, timeouts, 5xx/408/425/429 and AWS throttling
are transient; everything else (a KeyError, a 401, a missing file, a bad certificate) is not."""

from __future__ import annotations

from typing import Any

import botocore.exceptions as boto
import httpx
import pytest
import requests

from resumable import JobNotFoundError, JobTimeoutError, ResumableJobMixin
from resumable._transient import AWS_TRANSIENT_CODES, is_transient_error, is_transient_http_status

_REQUEST = httpx.Request("GET", "https://jobs.example/api/status")


def httpx_status(code: int) -> httpx.HTTPStatusError:
    return httpx.HTTPStatusError(f"HTTP {code}", request=_REQUEST,
                                 response=httpx.Response(code, request=_REQUEST))


def requests_status(code: int) -> requests.HTTPError:
    response = requests.Response()
    response.status_code = code
    return requests.HTTPError(f"HTTP {code}", response=response)


def client_error(code: str, http_status: int = 400) -> boto.ClientError:
    return boto.ClientError({"Error": {"Code": code, "Message": "m"},
                             "ResponseMetadata": {"HTTPStatusCode": http_status}},
                            "DescribeStep")


class MyNetworkError(ConnectionError):
    """A user's own subclass of the builtin ConnectionError."""


URL = "https://elasticmapreduce.us-east-1.amazonaws.com"

TRANSIENT: list[BaseException] = [
    ConnectionError("down"), ConnectionRefusedError(111, "refused"),
    ConnectionResetError(104, "reset"), BrokenPipeError(32, "pipe"),
    ConnectionAbortedError("aborted"), TimeoutError("slow"),
    MyNetworkError("mine"),
    httpx.ConnectError("refused"), httpx.ReadError("reset"), httpx.WriteError("x"),
    httpx.CloseError("x"), httpx.ConnectTimeout("x"), httpx.ReadTimeout("x"),
    httpx.WriteTimeout("x"), httpx.PoolTimeout("x"), httpx.RemoteProtocolError("x"),
    *(httpx_status(code) for code in (500, 502, 503, 504, 599, 408, 425, 429)),
    requests.ConnectionError("refused"), requests.Timeout("slow"),
    requests.ConnectTimeout("slow"), requests.ReadTimeout("slow"),
    requests.exceptions.ProxyError("proxy down"),
    *(requests_status(code) for code in (500, 503, 408, 425, 429)),
    boto.EndpointConnectionError(endpoint_url=URL), boto.ConnectionClosedError(endpoint_url=URL),
    boto.ReadTimeoutError(endpoint_url=URL), boto.ConnectTimeoutError(endpoint_url=URL),
    *(client_error(code) for code in sorted(AWS_TRANSIENT_CODES)),
    client_error("InternalError", 500), client_error("ServiceUnavailable", 503),
    client_error("Whatever", 429),
]

PERMANENT: list[BaseException] = [
    KeyError("state"), ValueError("bad"), TypeError("bad"), RuntimeError("boom"),
    AttributeError("x"), IndexError(0), ZeroDivisionError(),
    OSError(2, "No such file or directory"), FileNotFoundError(2, "missing"),
    PermissionError(13, "denied"), OSError("generic"),
    *(httpx_status(code) for code in (400, 401, 403, 404, 409, 410, 422, 300)),
    httpx.UnsupportedProtocol("ftp"), httpx.DecodingError("x"), httpx.LocalProtocolError("x"),
    httpx.TooManyRedirects("x"), httpx.InvalidURL("x"),
    *(requests_status(code) for code in (400, 401, 403, 404)),
    requests.HTTPError("no response attached"), requests.exceptions.SSLError("bad cert"),
    requests.exceptions.InvalidURL("x"), requests.exceptions.MissingSchema("x"),
    requests.RequestException("generic"),
    boto.SSLError(endpoint_url=URL, error="bad cert"), boto.NoCredentialsError(),
    boto.ParamValidationError(report="bad"), boto.NoRegionError(),
    client_error("AccessDeniedException", 403), client_error("ValidationException"),
    client_error("InvalidRequestException"), client_error("ResourceNotFoundException", 404),
    JobTimeoutError("still running"), JobNotFoundError("gone"),
]


def _name(error: BaseException) -> str:
    code = getattr(error, "response", None)
    detail = getattr(code, "status_code", None) or (
        code.get("Error", {}).get("Code") if isinstance(code, dict) else None)
    return f"{type(error).__module__}.{type(error).__name__}" + (f"[{detail}]" if detail else "")


@pytest.mark.parametrize("error", TRANSIENT, ids=_name)
def test_transient(error: BaseException) -> None:
    assert is_transient_error(error) is True


@pytest.mark.parametrize("error", PERMANENT, ids=_name)
def test_not_transient(error: BaseException) -> None:
    assert is_transient_error(error) is False


def test_every_requests_error_is_an_oserror_yet_not_all_are_transient() -> None:
    assert all(isinstance(e, OSError) for e in (requests.HTTPError(), requests.Timeout()))
    assert not is_transient_error(requests.HTTPError())


@pytest.mark.parametrize(("status", "transient"), [
    (500, True), (503, True), (599, True), (408, True), (425, True), (429, True),
    (400, False), (404, False), (499, False), (600, False), (200, False), (None, False),
    ("503", False), (True, False)])
def test_http_statuses(status: Any, transient: bool) -> None:
    assert is_transient_http_status(status) is transient


def test_aws_shaped_responses_need_a_mapping_error() -> None:
    class Odd(Exception):
        def __init__(self, response: Any) -> None:
            super().__init__("odd")
            self.response = response

    assert not is_transient_error(Odd({"Error": "Throttling"}))
    assert is_transient_error(Odd({"Error": {"Code": "SlowDown"}}))  # aiobotocore & co.
    assert is_transient_error(Odd({"Error": {"Code": "Nope"},
                                   "ResponseMetadata": {"HTTPStatusCode": 502}}))
    assert not is_transient_error(Odd({"Error": {"Code": "Nope"},
                                       "ResponseMetadata": {"HTTPStatusCode": 400}}))


class Minimal(ResumableJobMixin):
    active_states, succeeded_states = ("RUNNING",), ("DONE",)

    def submit_job(self, context: object) -> str:
        return "j"

    def get_job_status(self, external_id: object, context: object) -> str:
        return "DONE"


def test_the_mixin_hook_uses_it_and_can_be_widened() -> None:
    assert Minimal().is_transient_error(httpx.ConnectError("x"))
    assert not Minimal().is_transient_error(KeyError("x"))

    class Wider(Minimal):
        def is_transient_error(self, error: BaseException) -> bool:
            return isinstance(error, ValueError) or super().is_transient_error(error)

    assert Wider().is_transient_error(ValueError("flaky parser"))

"""Which status-lookup errors are transient by nature, and so worth asking again.

How it works: :func:`is_transient_error` is a pure test of one exception object. It
answers True only for errors that say the network or the service was briefly in the way:

- builtins: ``ConnectionError`` (refused, reset, aborted, broken pipe) and ``TimeoutError``;
- httpx: ``TimeoutException``, ``NetworkError``, ``RemoteProtocolError``, and
  ``HTTPStatusError`` whose status is 5xx, 408, 425 or 429;
- requests: ``ConnectionError`` (but not its ``SSLError``) and ``Timeout``, and
  ``HTTPError`` whose response has one of those statuses;
- botocore: ``EndpointConnectionError``, ``ConnectionClosedError``, ``ReadTimeoutError``,
  ``ConnectTimeoutError``, and a ``ClientError`` (anything with an AWS-shaped
  ``response["Error"]["Code"]``) whose code is a throttling or request-timeout code, or
  whose HTTP status is 5xx, 408, 425 or 429.

The libraries are recognised by the module and name of each class in the exception's
MRO (and botocore's ``ClientError`` by the shape of its ``response``), so none of them
is imported here and subclasses count as their base.

What it does not do: count resumable's own errors (``JobNotFoundError``...), treat
``OSError`` as transient wholesale (every requests exception is an ``OSError``, and so
is a missing file), look at ``urllib3`` or ``aiohttp`` errors, or retry anything
itself. ``ResumableJobMixin.is_transient_error`` calls it; override that hook to widen it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from resumable._errors import ResumableError

__all__ = ["AWS_TRANSIENT_CODES", "is_transient_error", "is_transient_http_status"]

#: Error codes AWS services use for throttling and request timeouts (botocore's own
#: retry lists: ``botocore/retries/standard.py``).
AWS_TRANSIENT_CODES: Final = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException",
    "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
    "EC2ThrottledException", "RequestTimeout", "RequestTimeoutException",
})

# (module, class name) pairs of transient errors, matched anywhere in the MRO.
_TRANSIENT_CLASSES: Final = frozenset({
    ("httpx", "TimeoutException"),
    ("httpx", "NetworkError"),
    ("httpx", "RemoteProtocolError"),
    ("requests.exceptions", "ConnectionError"),
    ("requests.exceptions", "Timeout"),
    ("botocore.exceptions", "EndpointConnectionError"),
    ("botocore.exceptions", "ConnectionClosedError"),
    ("botocore.exceptions", "ReadTimeoutError"),
    ("botocore.exceptions", "ConnectTimeoutError"),
})
# Subclasses of the classes above that are not transient: a certificate stays bad.
_NEVER_TRANSIENT: Final = frozenset({("requests.exceptions", "SSLError")})
# HTTP errors that carry a response whose status decides.
_HTTP_STATUS_CLASSES: Final = frozenset({
    ("httpx", "HTTPStatusError"),
    ("requests.exceptions", "HTTPError"),
})
_RETRYABLE_4XX: Final = frozenset({408, 425, 429})


def is_transient_http_status(status: object) -> bool:
    """True for an HTTP status worth retrying: 5xx, 408, 425 and 429."""
    if not isinstance(status, int) or isinstance(status, bool):
        return False
    return 500 <= status <= 599 or status in _RETRYABLE_4XX


def _classes(error: BaseException) -> set[tuple[str, str]]:
    return {(klass.__module__, klass.__name__) for klass in type(error).__mro__}


def _aws_transient(response: Mapping[Any, Any]) -> bool:
    error = response.get("Error")
    if not isinstance(error, Mapping):
        return False
    if error.get("Code") in AWS_TRANSIENT_CODES:
        return True
    metadata = response.get("ResponseMetadata")
    return isinstance(metadata, Mapping) and is_transient_http_status(
        metadata.get("HTTPStatusCode"))


def is_transient_error(error: BaseException) -> bool:
    """True if ``error`` says the network or the service was briefly in the way.

    See the module docstring for the exact list; anything else (a ``KeyError`` in your
    parsing, an HTTP 401, a ``ValueError``) is not transient, and neither is any of
    resumable's own errors (``JobTimeoutError`` is a ``TimeoutError``, but final).
    """
    if isinstance(error, ResumableError):
        return False
    if isinstance(error, (ConnectionError, TimeoutError)):
        return True
    classes = _classes(error)
    if classes & _NEVER_TRANSIENT:
        return False
    if classes & _TRANSIENT_CLASSES:
        return True
    response = getattr(error, "response", None)
    if classes & _HTTP_STATUS_CLASSES:
        return is_transient_http_status(getattr(response, "status_code", None))
    if isinstance(response, Mapping):
        return _aws_transient(response)
    return False

"""The retry policy for store outages: bounded exponential backoff with jitter (tenacity).

How it works: a frozen :class:`RetryPolicy` builds tenacity ``Retrying`` /
``AsyncRetrying`` objects that retry only :class:`StoreUnavailableError` (connection
refused or lost, timeouts, SQLite "database is locked"), with full-jitter exponential
waits capped at ``max_wait`` seconds, for at most ``attempts`` tries and ``deadline``
seconds, then re-raise the last error. Every other error surfaces at once.

What it does not do: make non-idempotent writes safe to repeat. Every backend operation
is idempotent except ``compare_and_set``, whose retry after a commit whose
acknowledgement was lost reports ``False`` (the value already is ``new``); callers that
need certainty re-read the value, as ``@watermark`` does.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import tenacity

from store_client._errors import ConfigurationError, StoreUnavailableError

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RetryPolicy"]

_log = logging.getLogger("store_client")
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a store operation that found the store unavailable."""

    attempts: int = 5
    initial_wait: float = 0.1
    max_wait: float = 2.0
    deadline: float = 30.0

    def __post_init__(self) -> None:
        if type(self.attempts) is not int or self.attempts < 1:
            raise ConfigurationError(
                f"RetryPolicy.attempts must be a whole number of 1 or more, got "
                f"{self.attempts!r:.60}")
        for name in ("initial_wait", "max_wait", "deadline"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value) or value < 0:
                raise ConfigurationError(
                    f"RetryPolicy.{name} must be a finite number of seconds >= 0, got "
                    f"{value!r:.60}")

    def _options(self) -> dict[str, object]:
        return {
            "retry": tenacity.retry_if_exception_type(StoreUnavailableError),
            "stop": tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_after_delay(self.deadline),
            "wait": tenacity.wait_random_exponential(
                multiplier=self.initial_wait, max=self.max_wait
            ),
            "before_sleep": self._log_retry,
            "reraise": True,
        }

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        _log.warning("store unavailable (attempt %d of %d), retrying in %.2f s: %s",
                     state.attempt_number, self.attempts, wait, error)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` under this policy."""
        return tenacity.Retrying(**self._options())(fn, *args, **kwargs)  # type: ignore[arg-type]

    async def acall(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn`` under this policy."""
        retrying = tenacity.AsyncRetrying(**self._options())  # type: ignore[arg-type]
        return await retrying(fn, *args, **kwargs)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)

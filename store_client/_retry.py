"""The retry policy for store outages: bounded exponential backoff with jitter (tenacity).

How it works: a frozen :class:`RetryPolicy` runs the first attempt itself (a call that
succeeds pays nothing for the policy); after a first failure it builds tenacity
``Retrying`` / ``AsyncRetrying`` objects for the attempts left, which retry only
:class:`StoreUnavailableError` (connection refused or lost, timeouts, SQLite "database
is locked"), with full-jitter exponential
waits capped at ``max_wait`` seconds, for at most ``attempts`` tries and ``deadline``
seconds, then re-raise the last error. Every other error surfaces at once.

What it does not do: make non-idempotent writes safe to repeat. Every backend operation
is idempotent except ``compare_and_set``, whose retry after a commit whose
acknowledgement was lost reports ``False`` (the value already is ``new``); callers that
need certainty re-read the value, as ``@watermark`` does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
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

    def _rest(self, error: StoreUnavailableError,
              started: float) -> tuple[float, dict[str, object]] | None:
        """After a first attempt failed with ``error``: how long to wait, and the options
        of the tenacity loop for the attempts left; None if there are none."""
        left = self.deadline - (time.monotonic() - started)
        if self.attempts == 1 or left <= 0:
            return None
        wait = random.uniform(0, min(self.max_wait, self.initial_wait))
        _log.warning("store unavailable (attempt 1 of %d), retrying in %.2f s: %s",
                     self.attempts, wait, error)
        return wait, {
            "retry": tenacity.retry_if_exception_type(StoreUnavailableError),
            "stop": tenacity.stop_after_attempt(self.attempts - 1)
            | tenacity.stop_after_delay(max(0.0, left - wait)),
            # tenacity's attempt n is our n + 1: twice the multiplier keeps the curve.
            "wait": tenacity.wait_random_exponential(
                multiplier=self.initial_wait * 2, max=self.max_wait),
            "before_sleep": self._log_retry,
            "reraise": True,
        }

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        _log.warning("store unavailable (attempt %d of %d), retrying in %.2f s: %s",
                     state.attempt_number + 1, self.attempts, wait, error)

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` under this policy.

        The first attempt runs outside tenacity, so a call that succeeds pays nothing
        for the policy; tenacity takes over after a first failure.
        """
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        except StoreUnavailableError as exc:
            rest = self._rest(exc, started)
            if rest is None:
                raise
        time.sleep(rest[0])
        return tenacity.Retrying(**rest[1])(fn, *args, **kwargs)  # type: ignore[arg-type]

    async def acall(
        self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``fn`` under this policy (the first attempt outside tenacity, as ``call``)."""
        started = time.monotonic()
        try:
            return await fn(*args, **kwargs)
        except StoreUnavailableError as exc:
            rest = self._rest(exc, started)
            if rest is None:
                raise
        await asyncio.sleep(rest[0])
        retrying = tenacity.AsyncRetrying(**rest[1])  # type: ignore[arg-type]
        return await retrying(fn, *args, **kwargs)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)

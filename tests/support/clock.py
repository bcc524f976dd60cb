"""A controllable UTC clock for ``connect(clock=...)`` in tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["FakeClock"]


class FakeClock:
    """A controllable UTC clock handed to ``connect(clock=...)``."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta

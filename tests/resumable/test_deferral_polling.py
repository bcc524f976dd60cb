"""The trigger's async poll is the blocking poll: same answers, same waits, same ends.

Each scenario runs ``poll_until_done`` (sync lookup, sync sleep) and ``apoll_until_done``
(async lookup, async sleep) on a fake clock, with the jitter's random generator seeded
alike, and compares what they return or raise, every wait they slept, and the lookups
they made. A wall-clock ``deadline`` (what the trigger passes) ends both at the same point.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from resumable._job_decision import StatusKind
from resumable._polling import apoll_until_done, poll_until_done

KINDS = {"RUNNING": StatusKind.ACTIVE, "SUCCESS": StatusKind.SUCCEEDED,
         "FAILED": StatusKind.FAILED}


def classify(status: Any) -> StatusKind:
    return KINDS.get(status, StatusKind.UNKNOWN)


class Script:
    """Answers (or errors) in order, the last one forever; a clock that sleeping moves."""

    def __init__(self, steps: list[Any]) -> None:
        self.steps, self.calls, self.now, self.slept = list(steps), 0, 100.0, []

    def answer(self) -> Any:
        self.calls += 1
        self.now += 0.01
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if isinstance(step, BaseException):
            raise step
        return step

    async def aanswer(self) -> Any:
        return self.answer()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def clock(self) -> float:
        return self.now


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "returned", call()
    except Exception as exc:
        return type(exc).__name__, str(exc)


SCENARIOS: dict[str, tuple[list[Any], dict[str, Any]]] = {
    "active_then_success": (["RUNNING"] * 5 + ["SUCCESS"], {}),
    "transient_errors": ([ConnectionError("down")] * 4 + ["RUNNING", "SUCCESS"], {}),
    "too_many_errors": ([ConnectionError("down")], {"max_errors": 3}),
    "permanent_error": ([KeyError("state")], {}),
    "failed": (["RUNNING", "FAILED"], {}),
    "unknown_then_give_up": (["WEIRD"], {"timeout": None, "max_unknown": 6}),
    "unknown_until_timeout": (["WEIRD"], {"timeout": 3.0}),
    "active_until_timeout": (["RUNNING"], {"timeout": 2.0}),
    "errors_until_timeout": ([TimeoutError("slow")], {"timeout": 2.0, "max_errors": 10**6}),
    "deadline": (["RUNNING"], {"deadline": 101.5}),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_async_poll_matches_the_sync_poll(name: str) -> None:
    steps, options = SCENARIOS[name]
    knobs: dict[str, Any] = {"external_id": 7, "interval": 0.3, "timeout": 30.0,
                             "max_interval": 2.0, **options}
    sync, asyn = Script(steps), Script(steps)
    random.seed(name)
    expected = _outcome(lambda: poll_until_done(sync.answer, classify, sleep=sync.sleep,
                                                clock=sync.clock, **knobs))
    random.seed(name)
    got = _outcome(lambda: asyncio.run(apoll_until_done(
        asyn.aanswer, classify, sleep=asyn.asleep, clock=asyn.clock, **knobs)))
    assert got[0] == expected[0]
    assert got[1] == expected[1].replace("get_job_status", "aget_job_status")
    assert (asyn.calls, asyn.slept) == (sync.calls, sync.slept)
    assert sync.calls > 1 or name in ("permanent_error",)


def test_the_deadline_overrides_the_timeout_but_not_its_words() -> None:
    script = Script(["RUNNING"])
    with pytest.raises(Exception, match=r"still active \('RUNNING'\) after 600 s") as info:
        asyncio.run(apoll_until_done(script.aanswer, classify, external_id=1, interval=0.5,
                                     timeout=600, max_interval=1.0, deadline=102.0,
                                     sleep=script.asleep, clock=script.clock))
    assert type(info.value).__name__ == "JobTimeoutError"
    assert 101.9 <= script.now <= 102.1  # ended at the deadline, not 600 s later


def test_a_plain_function_lookup_is_taken_as_it_is() -> None:
    script = Script(["RUNNING", "SUCCESS"])
    assert asyncio.run(apoll_until_done(script.answer, classify, external_id=1,
                                        interval=0.0, timeout=None, max_interval=0.0,
                                        sleep=script.asleep)) == "SUCCESS"

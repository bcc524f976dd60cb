"""Claims: the pure rule, the conditional write, the heartbeat and the wait."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest

from resumable._job_claim import Claim, Claimer, await_other, claim_key, may_claim, process_gone
from resumable._job_decision import Action, StatusKind, decide
from resumable._job_record import JobRecord
from store_client import TaskScope, TaskStore, connect

NOW = 1_000_000.0
HOST = "this-host"


@pytest.mark.parametrize(("current", "generation", "gone", "allowed"), [
    (None, 0, False, True),
    (Claim(0, "me", NOW), 0, False, True),              # our own
    (Claim(0, "other", NOW - 1), 1, False, True),       # an older generation
    (Claim(1, "other", NOW - 1), 1, False, False),      # live, same generation
    (Claim(2, "other", NOW - 1), 1, False, False),      # live, newer generation
    (Claim(1, "other", NOW - 10), 1, False, True),      # stale
    (Claim(1, "other", NOW - 1), 1, True, True),        # its process is gone
])
def test_may_claim(current: Claim | None, generation: int, gone: bool, allowed: bool) -> None:
    assert may_claim(current, generation, "me", NOW, 10.0 - 0.5, owner_gone=gone) is allowed


def test_claims_round_trip_and_odd_ones_are_ignored() -> None:
    claim = Claim(3, "abc", NOW, HOST, 42)
    assert Claim.load(claim.to_json()) == claim
    for bad in (None, "x", {"generation": "1", "owner": "a", "at": 1},
                {"generation": 1, "owner": 2, "at": 1}, {"generation": 1, "owner": "a",
                                                         "at": True}):
        assert Claim.load(bad) is None


def test_process_gone_only_on_this_host() -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(done.stdout)
    assert process_gone(Claim(0, "x", NOW, HOST, dead_pid), HOST)
    assert not process_gone(Claim(0, "x", NOW, HOST, os.getpid()), HOST)
    assert not process_gone(Claim(0, "x", NOW, "elsewhere", dead_pid), HOST)
    assert not process_gone(Claim(0, "x", NOW, HOST, None), HOST)


@pytest.fixture
def store() -> TaskStore:
    return connect("memory://").task_store(TaskScope("dag", "run", "task"))


def test_two_claimers_one_winner_and_a_stale_claim_is_taken_over(store: TaskStore) -> None:
    clock = [NOW]
    a = Claimer(store, "job", "a", 5.0, clock=lambda: clock[0])
    b = Claimer(store, "job", "b", 5.0, clock=lambda: clock[0])
    a.host = b.host = HOST  # and a pid that is alive: only time makes it stale
    assert a.try_claim(0)
    assert not b.try_claim(0)
    assert b.held_by_other() == a.current()
    clock[0] += 6
    assert b.held_by_other() is None
    assert b.try_claim(0)
    assert store.get(claim_key("job"))["owner"] == "b"  # type: ignore[index]


def test_a_race_between_read_and_write_is_lost_by_one(store: TaskStore) -> None:
    a = Claimer(store, "job", "a", 5.0)
    b = Claimer(store, "job", "b", 5.0)
    raw = store.get(a.key)  # both read "absent"...
    assert a._write(raw, a._mine(0))
    assert not b._write(raw, b._mine(0))  # ...only one conditional write succeeds


class NoCasStore:
    """A store without compare_and_set (shaped like Airflow's accessor)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.data[key] = value


def test_without_compare_and_set_the_claim_is_written_then_read_back() -> None:
    plain = NoCasStore()
    a = Claimer(plain, "job", "a", 5.0, atomic=False)
    assert a.try_claim(0)
    assert not Claimer(plain, "job", "b", 5.0, atomic=False).try_claim(0)


def test_the_heartbeat_keeps_a_slow_submission_claimed(store: TaskStore) -> None:
    a = Claimer(store, "job", "a", 0.4)
    b = Claimer(store, "job", "b", 0.4)
    assert a.try_claim(0)
    with a.heartbeat(0):
        for _ in range(8):  # 1.2 s: three timeouts, never stale
            time.sleep(0.15)
            assert not b.try_claim(0)
    time.sleep(0.5)
    assert b.try_claim(0)


def test_await_other_returns_the_winners_job_or_a_stale_claim(store: TaskStore) -> None:
    clock = [NOW]
    a = Claimer(store, "job", "a", 5.0, clock=lambda: clock[0])
    b = Claimer(store, "job", "b", 5.0, clock=lambda: clock[0])
    assert a.try_claim(1)
    records = iter([None, JobRecord(generation=0, external_id="old"),
                    JobRecord(generation=1, external_id="new")])
    found = await_other(b, lambda: next(records), sleep=lambda _: None)
    assert found is not None and found.external_id == "new"

    def age(_: float) -> None:
        clock[0] += 2

    assert await_other(b, lambda: None, sleep=age) is None  # stale after 5 s: claim anew


def test_the_decision_waits_when_another_try_holds_the_claim() -> None:
    for record in (None, JobRecord(generation=2, phase="submitting"),
                   JobRecord(external_id="j", generation=2, phase="failed")):
        decision = decide(record, StatusKind.CLAIMED)
        assert decision.action is Action.AWAIT
        assert decision.generation == (record.generation if record else 0)

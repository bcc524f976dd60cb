"""Claims: at most one of several overlapping tries submits a generation of a job.

How it works: before a try writes its intent and submits generation ``g``, it *claims*
``g`` under ``resumable.claim/<external_id_key>`` with the task store's
``compare_and_set``: ``{"generation", "owner", "at"}``, the owner being a random id of
this try. :func:`may_claim` (pure) says when a try may take the claim: there is none,
it is its own, it is for an older generation, or it is *stale* (``at`` older than
``claim_timeout``: its owner died between claiming and storing the job's ID). Two
tries racing to claim meet in one conditional write, so exactly one wins. While
``submit_job`` runs, a heartbeat thread moves ``at`` forward every quarter of
``claim_timeout``, so a slow submission is not taken for a dead one. A claim also names
its owner's host and process id: on the same host, a claim whose process is gone is
stale at once (a SIGKILLed try's retry does not wait). The heartbeat gives up after
:data:`MAX_HEARTBEATS`, which bounds how long a loser can wait. The loser waits (see the
mixin's AWAIT action) until the winner's ID is stored, then reattaches to that job, or
until the claim goes stale, then claims it itself.

What it does not do: make Airflow's in-task store atomic. It has no conditional write,
so ``compare_and_set`` there is emulated (read, compare, write); a claim is then read
back after it is written, which narrows the window to the moment between two tries'
writes but does not close it. A GC pause or store stall longer than ``claim_timeout``
in the winner can make a loser take over (and submit the same generation, with the
same token: token-deduping systems return the same job).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from resumable._errors import JobError
from resumable._job_record import JobRecord
from store_client import NEVER_EXPIRE

__all__ = ["CLAIM_PREFIX", "MAX_HEARTBEATS", "Claim", "Claimer", "await_other", "claim_key",
           "may_claim", "process_gone"]

CLAIM_PREFIX: Final = "resumable.claim/"
#: A heartbeat thread stops after this many refreshes (a submit_job stuck that long is
#: treated as dead), so a waiting try waits at most about this many quarter-timeouts.
MAX_HEARTBEATS: Final = 40
_log = logging.getLogger("resumable.jobs")
Clock = Callable[[], float]


def claim_key(external_id_key: str) -> str:
    """The task-store key of the claim kept beside ``external_id_key``."""
    return f"{CLAIM_PREFIX}{external_id_key}"


@dataclass(frozen=True, slots=True)
class Claim:
    """Who is submitting which generation, and when they last said so (epoch seconds)."""

    generation: int
    owner: str
    at: float
    host: str | None = None
    pid: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The claim as stored."""
        data = {"generation": self.generation, "owner": self.owner, "at": self.at,
                "host": self.host, "pid": self.pid}
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def load(cls, raw: Any) -> Claim | None:
        """A stored claim, or None if absent or not one of ours."""
        if not isinstance(raw, dict):
            return None
        generation, owner, at = raw.get("generation"), raw.get("owner"), raw.get("at")
        if type(generation) is not int or not isinstance(owner, str) \
                or not isinstance(at, (int, float)) or isinstance(at, bool):
            return None
        host, pid = raw.get("host"), raw.get("pid")
        return cls(generation, owner, float(at), host if isinstance(host, str) else None,
                   pid if type(pid) is int and pid > 0 else None)

    def live(self, now: float, timeout: float) -> bool:
        """True while its owner may still be submitting."""
        return now - self.at < timeout


def may_claim(current: Claim | None, generation: int, owner: str, now: float,
              timeout: float, *, owner_gone: bool = False) -> bool:
    """True if ``owner`` may claim ``generation`` over the ``current`` claim.

    ``owner_gone``: the current claim's process is known to have ended.
    """
    if current is None or current.owner == owner or current.generation < generation:
        return True
    return owner_gone or not current.live(now, timeout)


def process_gone(claim: Claim, host: str) -> bool:
    """True if ``claim`` was made on ``host`` by a process that no longer exists."""
    if claim.host != host or claim.pid is None:
        return False  # another machine's process: only the timeout can tell
    try:
        os.kill(claim.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # exists, owned by someone else
    return False


class Claimer:
    """The claim of one try on one task store (the I/O around :func:`may_claim`)."""

    def __init__(self, store: Any, external_id_key: str, owner: str, timeout: float, *,
                 atomic: bool = True, clock: Clock = time.time,
                 on_lost: Callable[[], None] | None = None) -> None:
        self.store = store
        self.key = claim_key(external_id_key)
        self.owner = owner
        self.timeout = timeout
        self.atomic = atomic  # False: the store only emulates compare_and_set
        self.clock = clock
        self.host = socket.gethostname()
        self.on_lost = on_lost  # told when another try takes the claim over

    def current(self) -> Claim | None:
        """The stored claim, if any."""
        return Claim.load(self.store.get(self.key))

    def held_by_other(self) -> Claim | None:
        """The claim of another try that may still be submitting, or None."""
        claim = self.current()
        if claim is None or claim.owner == self.owner or not claim.live(
                self.clock(), self.timeout) or process_gone(claim, self.host):
            return None
        return claim

    def try_claim(self, generation: int) -> bool:
        """Claim ``generation``; False if another live try holds it, or won the race."""
        raw = self.store.get(self.key)
        current = Claim.load(raw)
        gone = current is not None and process_gone(current, self.host)
        if not may_claim(current, generation, self.owner, self.clock(), self.timeout,
                         owner_gone=gone):
            return False
        return self._write(raw, self._mine(generation))

    def _mine(self, generation: int) -> Claim:
        return Claim(generation, self.owner, self.clock(), self.host, os.getpid())

    def _write(self, expected: Any, claim: Claim) -> bool:
        new = claim.to_json()
        cas = getattr(self.store, "compare_and_set", None)
        if cas is not None:
            if not cas(self.key, expected, new, retention=NEVER_EXPIRE):
                return False
        else:  # a store without a conditional write: write, then read back
            self.store.set(self.key, new, retention=NEVER_EXPIRE)
        return self.current() == claim

    @contextlib.contextmanager
    def heartbeat(self, generation: int) -> Iterator[None]:
        """Keep the claim fresh while the block runs (``submit_job``).

        Only on stores with a real conditional write: Airflow's in-task accessor is not
        called from a second thread.
        """
        if not self.atomic or self.timeout <= 0:
            yield
            return
        stop = threading.Event()

        def beat() -> None:
            for _ in range(MAX_HEARTBEATS):
                if stop.wait(self.timeout / 4):
                    return
                raw = self.store.get(self.key)
                held = Claim.load(raw)
                if held is None or held.owner != self.owner:
                    if self.on_lost is not None:
                        self.on_lost()
                    else:
                        _log.warning("another try took over the claim on %s while this "
                                     "one was submitting", self.key)
                    return
                with contextlib.suppress(Exception):  # a missed beat only ages the claim
                    self._write(raw, self._mine(generation))

        thread = threading.Thread(target=beat, name="resumable-claim", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=self.timeout)


def await_other(claimer: Claimer, load: Callable[[], JobRecord | None], *,
                sleep: Callable[[float], None] = time.sleep,
                monotonic: Clock = time.monotonic) -> JobRecord | None:
    """Wait for the try holding the claim: until its job's ID is stored (the record is
    returned, to reattach to that job) or its claim goes stale (to claim it anew).

    Bounded: a holder's heartbeat stops after :data:`MAX_HEARTBEATS`, so its claim is
    stale at most that many quarter-timeouts later; past that this raises ``JobError``.
    """
    limit = claimer.timeout * (MAX_HEARTBEATS / 4 + 2)
    started, pause = monotonic(), 0.05
    while True:
        holder = claimer.held_by_other()
        record = load()
        if holder is None:
            return record
        if record is not None and record.has_id and record.generation >= holder.generation:
            return record
        if monotonic() - started > limit:
            raise JobError(f"another try held the claim {claimer.key!r} for over {limit:g} s "
                           "without storing a job ID")
        sleep(pause)
        pause = min(pause * 2, 1.0)

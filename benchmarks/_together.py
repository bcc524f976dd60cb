"""Run the same work in N forked processes released together; collect what each reports.

How it works: :func:`run_together` forks ``count`` children. Child ``i`` calls
``work(i, start)``: it gets ready (connects, reads what it needs), calls ``start()``,
which waits on a barrier until every child and the parent are there, then does the
timed part and returns a picklable report, sent back on a pipe of its own. A child that
raises aborts the barrier and sends its traceback instead; the parent then raises
``RuntimeError`` quoting it. Children that outlive the timeout are killed.

Forking (not spawning) keeps the start cheap: children inherit the parent's imports.
The parent should hold no open store connection across the fork (the store client
resets its per-process state in a forked child, but a connection is not shared).

What it does not do: time anything itself, pin processes to CPUs, or work where
``fork`` is unavailable (Windows).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from typing import Any, TypeVar

__all__ = ["Start", "run_together"]

FORK = multiprocessing.get_context("fork")
JOIN_S = 30.0  # how long a child may take to exit after it reported

R = TypeVar("R")
Start = Callable[[], None]  # called by a ready child: returns when every process is ready


def _child(work: Callable[[int, Start], object], index: int, barrier: Barrier,
           timeout: float, out: Connection) -> None:
    def start() -> None:
        barrier.wait(timeout)

    try:
        report = work(index, start)
        out.send((True, report))
    except BaseException:  # report it to the parent; it raises there
        barrier.abort()
        out.send((False, traceback.format_exc()))
    finally:
        out.close()


def _receive(pipe: Connection, timeout: float) -> tuple[bool, Any]:
    if not pipe.poll(timeout):
        return False, f"no report within {timeout:g} s"
    try:
        outcome: tuple[bool, Any] = pipe.recv()
    except EOFError:
        return False, "the process ended without a report"
    return outcome


def run_together(work: Callable[[int, Start], R], count: int, timeout: float) -> list[R]:
    """``work(i, start)`` in ``count`` forked processes released together; their reports,
    in order of ``i``. ``timeout`` bounds the wait for the start and for each report."""
    barrier = FORK.Barrier(count + 1)
    pipes = [FORK.Pipe(duplex=False) for _ in range(count)]
    children = [FORK.Process(target=_child, args=(work, index, barrier, timeout, send),
                             daemon=True) for index, (_, send) in enumerate(pipes)]
    for child in children:
        child.start()
    for _, send in pipes:
        send.close()
    try:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout)
        outcomes = [_receive(receive, timeout) for receive, _ in pipes]
    finally:
        for child in children:
            child.join(JOIN_S)
            if child.is_alive():
                child.kill()
                child.join()
    failed = [str(payload) for ok, payload in outcomes if not ok]
    if failed:  # the cause first: the others saw the barrier break
        failed.sort(key=lambda text: "BrokenBarrierError" in text)
        raise RuntimeError(f"{len(failed)} of {count} worker processes failed; the cause:\n"
                           f"{failed[0]}")
    return [payload for _, payload in outcomes]

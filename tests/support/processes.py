"""Process helpers for tests: is a process alive, its children, kill its process group.

Tests start servers (PostgreSQL, Spark, job servers) and workers in their own process
groups, and stop them by group, so nothing they started outlives them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

__all__ = ["ManagedServer", "child_pids", "kill_group", "pid_alive", "run_together"]

S = TypeVar("S", bound="ManagedServer")


def run_together(script: str, argvs: list[list[str]], *, timeout: float = 120) -> None:
    """Run ``python -c script`` once per argument list, all released at once.

    Each process is started, then all are sent a ``go`` line on stdin together (the
    script reads it before its work), so they really contend; each must exit 0 within
    ``timeout`` seconds.
    """
    procs = [subprocess.Popen([sys.executable, "-c", script, *argv], stdin=subprocess.PIPE,
                              text=True) for argv in argvs]
    try:
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.wait(timeout=timeout) == 0, f"worker exited {proc.returncode}"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def pid_alive(pid: int) -> bool:
    """Return True if process *pid* exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return True
    return fields[0] != "Z"


def child_pids(pid: int) -> list[int]:
    """Return the direct children of *pid* (Linux ``/proc``; empty elsewhere)."""
    children: list[int] = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(entry.parent.name))
    return children


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by *pid*, or just *pid* if that is our own group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        pgid = os.getpgid(pid)
        if pgid == os.getpgrp():
            os.kill(pid, signal.SIGKILL)
        else:
            os.killpg(pgid, signal.SIGKILL)


class ManagedServer:
    """Base of the throwaway test servers: ``start()`` in the subclass, torn down once.

    A subclass sets ``self._finalizer`` (a :func:`weakref.finalize` that stops its
    processes and deletes its files) when it starts; ``close()``, the end of a ``with``
    block, garbage collection and interpreter exit all run that same finalizer, once.
    """

    _finalizer: weakref.finalize[Any, Any] | None = None
    _closed = False

    def start(self) -> None:
        raise NotImplementedError

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")

    def close(self) -> None:
        """Stop everything and delete the temporary directory. Idempotent."""
        self._closed = True
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self: S) -> S:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

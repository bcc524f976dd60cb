"""Helpers for the paginated-ingest tests: the API server and the ingest CLI as real processes.

:class:`PageServer` runs ``examples.paginated_ingest.server`` in its own process group
(stopped by group, SIGKILL); :func:`start_ingest` runs the ingest CLI the same way, with
a reader thread collecting its output lines (stdout and stderr) so a test can wait for
``loaded page K`` (:class:`IngestProcess`) and SIGKILL it there.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import httpx

from examples.paginated_ingest.ingest import Target
from tests.support.processes import ManagedServer, kill_group

__all__ = ["ROOT", "IngestProcess", "PageServer", "start_ingest", "target_counts"]

ROOT = Path(__file__).resolve().parents[2]
_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def _stop(proc: subprocess.Popen[str]) -> None:
    kill_group(proc.pid)
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


class PageServer(ManagedServer):
    """The example API as a real subprocess on 127.0.0.1 (``with PageServer(...) as s``)."""

    def __init__(self, *, pages: int = 40, page_size: int = 5, delay_ms: float = 0,
                 secret: str | None = None) -> None:
        self.pages, self.page_size, self.delay_ms, self.secret = (
            pages, page_size, delay_ms, secret)
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self._check_open()
        argv = [sys.executable, "-m", "examples.paginated_ingest.server", "--port", "0",
                "--pages", str(self.pages), "--page-size", str(self.page_size),
                "--delay-ms", str(self.delay_ms)]
        if self.secret is not None:
            argv += ["--secret", self.secret]
        proc = subprocess.Popen(argv, cwd=ROOT, env=_ENV, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        self._proc = proc
        self._finalizer = weakref.finalize(self, _stop, proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints this one line, then nothing
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"page server did not start: {line!r}")
        self.url = line.split()[1]

    def stop(self) -> None:
        """SIGKILL the server's process group (it keeps no state worth a clean stop)."""
        if self._finalizer is not None:
            self._finalizer()
        self._proc = None

    def stats(self) -> dict[int, int]:
        """How many times the server served each page since it started."""
        served = httpx.get(self.url + "/stats", timeout=10).raise_for_status().json()
        return {int(page): n for page, n in served["served"].items()}


class IngestProcess:
    """A running ingest CLI; ``lines`` fills from its stdout in a reader thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, wanted: str, timeout: float = 60) -> bool:
        """Read lines until ``wanted``; False if the process ended without printing it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {wanted!r} after {timeout} s: {self.lines}") from None
            if line is None:
                return False
            self.lines.append(line)
            if line == wanted:
                return True

    def kill(self) -> int:
        """SIGKILL the process group; returns the exit status (-9 if the kill landed)."""
        kill_group(self.proc.pid)
        return self.finish()

    def finish(self, timeout: float = 60) -> int:
        """Wait for the process and its output; returns the exit status."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                self.lines.append(line)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


def start_ingest(server: str, target: Path, store_url: str, *, mode: str, every: int,
                 run_id: str = "run", extra: tuple[str, ...] = ()) -> IngestProcess:
    """Start ``python -m examples.paginated_ingest.ingest`` in its own process group."""
    argv = [sys.executable, "-m", "examples.paginated_ingest.ingest", "--server", server,
            "--target", str(target), "--store-url", store_url, "--mode", mode,
            "--every", str(every), "--run-id", run_id, *extra]
    proc = subprocess.Popen(argv, cwd=ROOT, env=_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return IngestProcess(proc)


def target_counts(target: Path) -> dict[str, Any]:
    """The target's item IDs and loads per page."""
    db = Target(target)
    try:
        return {"ids": db.item_ids(), "loads": db.loads_per_page()}
    finally:
        db.close()

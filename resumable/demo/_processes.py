"""The demo's worker processes: start one that relays its output, wait for a condition.

How it works: :func:`start_worker` runs ``python -m resumable.demo COMMAND ARGS...`` in
its own process group (so the demo can SIGKILL it, children and all), and a daemon
thread appends each output line to a list and echoes it with a ``[worker N]`` prefix,
except the ``RESULT ...`` lines the demo parses. Both demo parts (``_run`` and
``_incremental``) use it; it imports neither.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["Say", "start_worker", "wait_for"]

#: Where the demo writes its lines (``print`` by default).
Say = Callable[[str], None]


def start_worker(n: int, command: str, args: list[str], say: Say,
                 lines: list[str]) -> subprocess.Popen[str]:
    """Run ``python -m resumable.demo command *args`` in its own process group, relaying
    its output."""
    proc = subprocess.Popen([sys.executable, "-m", "resumable.demo", command, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)

    def relay() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if not line.startswith("RESULT "):
                say(f"    [worker {n}] {line.rstrip()}")

    threading.Thread(target=relay, daemon=True).start()
    return proc


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition`` every 0.1 s until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False

"""``resumable demo``: the README's main job, run as the real console script."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from store_client import TaskScope, connect


def page_in(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, pattern
    return int(found.group(1))


def test_demo_reattaches_and_runs_one_job(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    exe = Path(sys.executable).with_name("resumable")
    started = time.monotonic()
    done = subprocess.run([str(exe), "demo", "--url", url, "--run-seconds", "4"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "SIGKILLed worker 1" in out
    assert "[worker 2] Reconnecting to existing job (external_id_key='demo_run_id'" in out
    assert "jobs the server received: 1" in out
    assert "exactly one job ran" in out
    killed_after = page_in(r"after it reported page (\d+)", out)
    resumed_after = page_in(r"\[worker 2\] resuming after page (\d+)", out)
    assert killed_after == resumed_after == 12  # killed while it fetched page 13
    assert "while it fetched page 13, after it reported page 12" in out
    assert "lost: none" in out
    assert "run 2 loaded 3 rows" in out
    assert "every order loaded exactly once" in out
    assert "all three parts OK" in out
    assert "Traceback" not in done.stderr
    assert elapsed < 30, elapsed
    entries = connect(url).scan_tasks("demo_run_id")
    assert len(entries) == 1 and isinstance(entries[0].scope, TaskScope)

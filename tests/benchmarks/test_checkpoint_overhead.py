"""The checkpoint benchmark still runs end to end (smoke-sized; no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_checkpoint_overhead_runs_and_prints_its_tables() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "checkpoint_overhead.py"),
                           "--quick", "--skip-postgres"], capture_output=True, text=True,
                          timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for heading in ("every=1:", "every=100:", "work redone after one SIGKILL",
                    "every=1 on SQLite, per commit"):
        assert heading in done.stdout

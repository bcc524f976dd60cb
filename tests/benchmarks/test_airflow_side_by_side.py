"""The Airflow side-by-side benchmark still runs in real Airflow (smoke-sized, no timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import require_or_skip
from tests.support.airflow_env import airflow_installed

ROOT = Path(__file__).resolve().parents[2]


def test_airflow_side_by_side_runs_and_prints_its_tables() -> None:
    if not airflow_installed():
        require_or_skip("apache-airflow is not installed: pip install -e '.[dev]'")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "airflow_side_by_side.py"),
                           "--quick"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("airflow | set", "ours    | set", "set: Airflow / ours (medians)"):
        assert line in done.stdout

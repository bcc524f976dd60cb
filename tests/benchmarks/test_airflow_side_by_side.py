"""The Airflow side-by-side benchmark still runs in real Airflow (smoke-sized, no timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import airflow_side_by_side
from benchmarks._summary import read_summary
from tests.support import require_or_skip
from tests.support.airflow_env import airflow_installed

ROOT = Path(__file__).resolve().parents[2]


def test_airflow_side_by_side_runs_both_modes_and_writes_its_summary(tmp_path: Path) -> None:
    if not airflow_installed():
        require_or_skip("apache-airflow is not installed: pip install -e '.[dev]'")
    summary = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "airflow_side_by_side.py"),
                           "--quick", "--summary", str(summary)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("blocks of 20 | airflow | set", "blocks of 20 | ours    | set",
                 "call by call | airflow | set", "call by call | ours    | set"):
        assert line in done.stdout

    results = {result.measure: result for result in read_summary(summary)}
    assert {r.benchmark for r in results.values()} == {"airflow side by side"}
    for mode, target in (("blocks of 20", ">= 100x"), ("call by call", ">= 35x")):
        assert results[f"set, {mode}: Airflow / ours (medians)"].target == target
        assert isinstance(results[f"set, {mode}: Airflow / ours (medians)"].met, bool)
        assert results[f"get, {mode}: Airflow / ours (medians)"].met is None


def test_without_airflow_the_summary_says_skipped(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(airflow_side_by_side, "airflow_installed", lambda: False)
    assert airflow_side_by_side.main([]) == 2
    summary = tmp_path / "summary.json"
    assert airflow_side_by_side.main(["--summary", str(summary)]) == 0
    [result] = read_summary(summary)
    assert result.figure == "skipped: apache-airflow not installed" and result.met is None

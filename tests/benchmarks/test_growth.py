"""The growth benchmark still runs end to end (tiny sizes, SQLite only; no timing asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks._summary import read_summary

ROOT = Path(__file__).resolve().parents[2]


def test_growth_runs_and_writes_its_summary(tmp_path: Path) -> None:
    summary = tmp_path / "growth.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "growth.py"), "--quick", "--skip-postgres",
         "--sizes", "0,2000", "--writers", "1,4", "--cleanup-rows", "2000", "--n", "100",
         "--listing-repeats", "1", "--writer-seconds", "0.5", "--summary", str(summary)],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("backend | rows"))
    assert [cell.strip() for cell in header.split("|")] == [
        "backend", "rows", "set median", "get median", "cleanup 2,000", "per batch",
        "longest write in cleanup", "job listing"]
    assert any(line.startswith("sqlite  | 2,000 ") for line in lines), done.stdout

    results = {r.measure: r for r in read_summary(summary)}
    assert {r.benchmark for r in results.values()} == {"growth"}
    for measure, target in (("sqlite set median, 2,000 rows / 0", "<= 1.5x"),
                            ("sqlite get median, 2,000 rows / 0", "<= 1.5x"),
                            ("sqlite cleanup per batch, 2,000 rows / 0", "<= 2x"),
                            ("sqlite job listing, 2,000 rows / 0", "<= 2x"),
                            ("sqlite 4 watermark writers: commits/s / 1", ">= 0.5x")):
        assert results[measure].target == target
        assert isinstance(results[measure].met, bool)
    raised = results["sqlite 4 watermark writers: commits raised"]
    assert raised.target == "0" and raised.figure.endswith(tuple("0123456789"))
    cursor = results["sqlite watermark writers: stored cursor is the furthest"]
    assert cursor.figure == "1: yes, 4: yes" and cursor.met is True
    assert results["postgresql"].figure == "skipped (--skip-postgres)"
    assert results["postgresql"].met is None

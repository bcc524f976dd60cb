"""The checkpoint benchmark still runs end to end (smoke-sized; no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks._summary import read_summary

ROOT = Path(__file__).resolve().parents[2]


def test_checkpoint_overhead_runs_and_prints_its_tables(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "checkpoint_overhead.py"),
                           "--quick", "--skip-postgres", "--summary", str(summary)],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for heading in ("every=1:", "raw upsert / commit", "every=100:",
                    "work redone after one SIGKILL", "every=1 on SQLite: commit / raw upsert"):
        assert heading in done.stdout

    results = {result.measure: result for result in read_summary(summary)}
    assert {r.benchmark for r in results.values()} == {"checkpoint"}
    commit = results["every=1 on SQLite: commit / raw upsert"]
    assert re.fullmatch(r"\d+\.\d\dx \(.+ µs / .+ µs\)", commit.figure), commit
    assert commit.target == "<= 2.2x" and isinstance(commit.met, bool)
    for backend in ("memory", "sqlite"):
        assert results[f"every=100, 1 ms pages, {backend}"].target == "< 5 %"
    assert results["pages redone after a SIGKILL, every=1"].met is None

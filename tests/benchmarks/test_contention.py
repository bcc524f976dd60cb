"""The contention benchmark still runs end to end and writes its summary (tiny: 0.5 s loops).

No rate is asserted (the machine may be busy); only that every measure is there with its
target, and the correctness ones: every counter moved by exactly the successes the
writers counted, and ``update``'s change function ran once per update.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks._summary import read_summary
from tests.support.postgres import find_pg_bindir

ROOT = Path(__file__).resolve().parents[2]


def test_contention_runs_every_loop_and_writes_its_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    postgres = find_pg_bindir() is not None
    argv = [sys.executable, str(ROOT / "benchmarks" / "contention.py"), "--seconds", "0.5",
            "--summary", str(summary), *([] if postgres else ["--skip-postgres"])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    tables = [[cell.strip() for cell in line.split("|")] for line in done.stdout.splitlines()
              if " | " in line]
    header = next(cells for cells in tables if cells[:2] == ["backend", "loop"])
    assert header == [
        "backend", "loop", "writers", "successes", "increments/s", "attempts/success",
        "changes/update", "counter moved"]

    results = {result.measure: result for result in read_summary(summary)}
    assert {r.benchmark for r in results.values()} == {"contention"}
    labels = ["SQLite", *(["PostgreSQL"] if postgres else [])]
    for label in labels:
        many = results[f"{label} compare_and_set, 8 writers: ours / raw increments/s"]
        assert re.match(r"\d+\.\d\dx \(", many.figure), many
        assert many.target == {"SQLite": ">= 0.5x", "PostgreSQL": ">= 0.77x"}[label]
        assert isinstance(many.met, bool)
        one = results[f"{label} compare_and_set, 1 writer: ours / raw increments/s"]
        assert one.target == "-" and one.met is None
        scaling = results[f"{label} update, 8 writers / 1: increments/s"]
        assert scaling.target == ">= 0.5x" and isinstance(scaling.met, bool)
        assert results[f"{label} update: changes per update"].met is True
        counters = results[f"{label} final counter = successes"]
        assert counters.met is True and counters.figure == "equal in all 6 runs"
    if not postgres:
        assert "PostgreSQL skipped" in done.stdout

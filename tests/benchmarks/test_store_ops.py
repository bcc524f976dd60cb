"""The store-ops benchmark still runs end to end and writes its summary (smoke-sized).

No timing is asserted; only that every measure is there, the latency ones as ratios to
the raw floor, and the cleanup one. (Writers contending for a key: test_contention.py.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from benchmarks._summary import read_summary
from tests.support.postgres import find_pg_bindir

ROOT = Path(__file__).resolve().parents[2]
OPS = {"set": "upsert", "get": "select", "compare_and_set": "update returning"}


def test_store_ops_runs_and_writes_ratios_to_the_raw_floor(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    postgres = find_pg_bindir() is not None
    argv = [sys.executable, str(ROOT / "benchmarks" / "store_ops.py"), "--quick",
            "--summary", str(summary), *([] if postgres else ["--skip-postgres"])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for heading in ("ours / raw", "longest batch"):
        assert heading in done.stdout, done.stdout

    results = {result.measure: result for result in read_summary(summary)}
    assert {r.benchmark for r in results.values()} == {"store ops"}
    floors = {"SQLite": ("sqlite3", "<= 2x")}
    if postgres:
        floors["PostgreSQL"] = ("psycopg", "<= 1.3x")
    for label, (driver, target) in floors.items():
        for op, raw_op in OPS.items():
            result = results[f"{label} {op} / raw {driver} {raw_op}"]
            assert re.fullmatch(r"\d+\.\d\dx \(.+ / .+\)", result.figure), result
            assert result.target == target and isinstance(result.met, bool)
    assert not any("writer" in measure for measure in results), "contention moved out"
    for op in OPS:
        assert results[f"memory {op} median"].target == "< 10.0 µs"
    cleanup = results["SQLite cleanup of 100,000 expired rows (batches of 10,000)"]
    assert "longest batch" in cleanup.figure and cleanup.met is None

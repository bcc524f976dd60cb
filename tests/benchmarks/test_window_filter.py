"""The window-filter benchmark still runs end to end (smoke-sized; no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_window_filter_runs_and_prints_its_table() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "window_filter.py"),
                           "--quick"], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "100,000 rows" in done.stdout
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("scenario"))
    assert [cell.strip() for cell in header.split("|")] == [
        "scenario", "rows", "bare rows/s", "ours rows/s", "ratio", "target", "met"]
    for cursor in ("datetime cursor, start and end", "int cursor, start and end",
                   "datetime cursor, stored watermark"):
        for order in ("ascending", "random order"):
            row = next((line for line in lines if line.startswith(f"{cursor}, {order} ")), None)
            assert row is not None, f"no row for {cursor}, {order}:\n{done.stdout}"
            cells = [cell.strip() for cell in row.split("|")]
            assert len(cells) == 7 and cells[4].endswith("x") and cells[5] == "≤ 3.0x"

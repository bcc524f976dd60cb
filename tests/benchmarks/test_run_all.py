"""run_all.py runs a benchmark as a child, tabulates its summary, and reports failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks._summary import Result
from benchmarks.run_all import BENCHMARKS, Outcome, rows, selected

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = str(ROOT / "benchmarks" / "run_all.py")
WINDOW_FILTER = next(b for b in BENCHMARKS if b.name == "window_filter")


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("|")]


def test_runs_one_benchmark_and_prints_the_table(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, RUN_ALL, "--quick", "--only", "window_filter",
                           "--log-dir", str(tmp_path), "--check"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = done.stdout.splitlines()
    assert lines[0] == f"logs: {tmp_path}"
    assert any(line.startswith("window_filter: exit 0 in ") for line in lines), done.stdout
    header = next(line for line in lines if line.startswith("benchmark "))
    assert cells(header) == ["benchmark", "measure", "figure", "target", "met"]
    table = [cells(line) for line in lines if line.startswith("watermark filter ")]
    assert len(table) == 6, done.stdout
    assert all(row[3] == "<= 3.0x" and row[4] in ("yes", "NO") for row in table)
    assert done.returncode == (1 if any(row[4] == "NO" for row in table) else 0)
    log = (tmp_path / "window_filter.log").read_text()
    assert "--summary" in log and "--quick" in log and "Window.filter against" in log


def test_a_child_that_times_out_is_a_failed_row(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, RUN_ALL, "--only", "window_filter.py",
                           "--timeout", "0.2", "--log-dir", str(tmp_path), "--check"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1, done.stdout + done.stderr
    row = next(cells(line) for line in done.stdout.splitlines()
               if line.startswith("watermark filter "))
    assert row[1] == "the run" and row[2].startswith("timed out after 0.2 s")
    assert row[3:] == ["exit 0", "NO"]


def test_failures_missing_summaries_and_skips_become_rows() -> None:
    log = Path("/tmp/x.log")
    result = Result("watermark filter", "m", "1.0x", "<= 3.0x", True)
    assert rows(Outcome(WINDOW_FILTER, [result], 0, 1.0, log)) == [result]
    failed = rows(Outcome(WINDOW_FILTER, [result], 3, 1.0, log))
    assert failed[0] == result
    assert failed[1].figure.startswith("exit status 3") and failed[1].met is False
    [missing] = rows(Outcome(WINDOW_FILTER, [], 0, 1.0, log))
    assert missing.figure.startswith("no summary") and missing.met is False
    [skip] = rows(Outcome(WINDOW_FILTER, [], None, 0.0, None, "no airflow"))
    assert skip.figure == "skipped: no airflow" and skip.met is None


def test_only_takes_names_with_or_without_py_and_keeps_the_order() -> None:
    assert [b.name for b in selected(["growth,store_ops.py"])] == ["store_ops", "growth"]
    assert [b.name for b in selected(None)] == [
        "store_ops", "contention", "checkpoint_overhead", "crash_duplicates", "window_filter",
        "growth", "airflow_side_by_side"]

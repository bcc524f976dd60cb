"""Run every benchmark, each in its own process, and print one table of figures and targets.

How it works: the benchmarks run one after another, in this order: ``store_ops.py``,
``contention.py``, ``checkpoint_overhead.py``, ``crash_duplicates.py``, ``window_filter.py``,
``growth.py`` and ``airflow_side_by_side.py`` (the last only when ``import airflow``
works in this interpreter; otherwise its row says it was skipped). Each is a child
process run with ``--summary FILE`` (a temporary file), ``--quick`` and
``--skip-postgres`` when given here and when the script takes that option (its source
names it); its output goes to a log file of its own in one log directory (printed at
the start), and one line is printed as each finishes. Then one table:
``benchmark | measure | figure | target | met`` from the summaries
(``benchmarks/_summary.py``). A child that exits non-zero or outlives its timeout
(SIGINT, then SIGKILL to its process group 20 s later) is a row with met ``NO`` and its
exit status; one that exits 0 without writing a summary is a ``no summary`` row, also
``NO``. ``--check`` exits 1 when any row is ``NO``.

What it does not do: run benchmarks in parallel (they would skew each other's timings),
measure anything itself, or judge a figure: each script decides its own ``met``.

Run from the repository root::

    .venv/bin/python benchmarks/run_all.py [--quick] [--skip-postgres] [--check]
        [--only NAME[,NAME]] [--timeout SECONDS] [--log-dir DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._summary import Result, read_summary
from benchmarks._table import print_table, yes_no

ROOT = Path(__file__).resolve().parent.parent

QUICK_TIMEOUT = 90.0  # seconds per child with --quick
FULL_TIMEOUT = 3600.0
INTERRUPT_GRACE = 20.0  # seconds between SIGINT and SIGKILL


@dataclass(frozen=True)
class Benchmark:
    """One script of ``benchmarks/``."""

    name: str  #: what --only takes: the file name without ``.py``
    label: str  #: the row label when the script wrote no summary
    needs_airflow: bool = False

    @property
    def script(self) -> Path:
        return ROOT / "benchmarks" / f"{self.name}.py"


BENCHMARKS = (
    Benchmark("store_ops", "store ops"),
    Benchmark("contention", "contention"),
    Benchmark("checkpoint_overhead", "checkpoint overhead"),
    Benchmark("crash_duplicates", "crash duplicates"),
    Benchmark("window_filter", "watermark filter"),
    Benchmark("growth", "growth"),
    Benchmark("airflow_side_by_side", "airflow side by side", needs_airflow=True),
)


@dataclass(frozen=True)
class Outcome:
    """How one child ended, and what it reported."""

    benchmark: Benchmark
    results: list[Result]
    returncode: int | None  # None: skipped
    elapsed: float
    log: Path | None
    note: str = ""  # why it was skipped, or that it timed out


def takes(script: Path, option: str) -> bool:
    """Whether ``script`` defines ``option`` (its source names it in quotes)."""
    return f'"{option}"' in script.read_text()


def airflow_importable() -> bool:
    """Whether ``import airflow`` works in this interpreter (tried in a child)."""
    try:
        done = subprocess.run([sys.executable, "-c", "import airflow"], cwd=ROOT,
                              capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def command(bench: Benchmark, summary: Path, args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, str(bench.script)]
    for wanted, option in ((True, "--summary"), (args.quick, "--quick"),
                           (args.skip_postgres, "--skip-postgres")):
        if wanted and takes(bench.script, option):
            argv += [option, str(summary)] if option == "--summary" else [option]
    return argv


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT the child's process group (context managers close their servers), then
    SIGKILL it if it is still there after the grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(INTERRUPT_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_child(bench: Benchmark, args: argparse.Namespace, log_dir: Path,
              timeout: float) -> Outcome:
    """Run one benchmark with its output in ``log_dir/<name>.log``; read its summary."""
    log = log_dir / f"{bench.name}.log"
    with tempfile.TemporaryDirectory(prefix="resumable-summary-") as tmp:
        summary = Path(tmp) / "summary.json"
        argv = command(bench, summary, args)
        started = time.perf_counter()
        with log.open("wb") as out:
            out.write(f"$ {' '.join(argv)}\n".encode())
            out.flush()
            process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
            note = ""
            try:
                returncode = process.wait(timeout)
            except subprocess.TimeoutExpired:
                stop(process)
                returncode, note = process.returncode, f"timed out after {timeout:g} s"
            except BaseException:
                stop(process)
                raise
        elapsed = time.perf_counter() - started
        results = read_summary(summary) if summary.exists() else []
    return Outcome(bench, results, returncode, elapsed, log, note)


def skipped(bench: Benchmark, why: str) -> Outcome:
    return Outcome(bench, [], None, 0.0, None, why)


def rows(outcome: Outcome) -> list[Result]:
    """The table rows of one outcome: its results, and a row for a failure or a skip."""
    label = outcome.benchmark.label
    if outcome.returncode is None:
        return [Result(label, "-", f"skipped: {outcome.note}", "-", None)]
    extra: list[Result] = []
    if outcome.returncode != 0:
        figure = outcome.note or f"exit status {outcome.returncode}"
        extra.append(Result(label, "the run", f"{figure} (log {outcome.log})", "exit 0",
                            False))
    elif not outcome.results:
        extra.append(Result(label, "-", f"no summary (log {outcome.log})", "a summary",
                            False))
    return [*outcome.results, *extra]


def finished_line(outcome: Outcome) -> str:
    if outcome.returncode is None:
        return f"{outcome.benchmark.name}: skipped ({outcome.note})"
    missed = sum(1 for r in outcome.results if r.met is False)
    status = outcome.note or f"exit {outcome.returncode}"
    return (f"{outcome.benchmark.name}: {status} in {outcome.elapsed:.1f} s, "
            f"{len(outcome.results)} results, {missed} missed (log {outcome.log})")


def selected(only: list[str] | None) -> list[Benchmark]:
    if not only:
        return list(BENCHMARKS)
    names = {name.strip().removesuffix(".py") for item in only for name in item.split(",")}
    unknown = names - {b.name for b in BENCHMARKS}
    if unknown:
        known = ", ".join(b.name for b in BENCHMARKS)
        raise SystemExit(f"run_all.py: unknown benchmark(s) {', '.join(sorted(unknown))}; "
                         f"choose from {known}")
    return [b for b in BENCHMARKS if b.name in names]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="pass --quick to each benchmark")
    parser.add_argument("--skip-postgres", action="store_true",
                        help="pass --skip-postgres to each benchmark that takes it")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only these (comma-separated or repeated): "
                        + ", ".join(b.name for b in BENCHMARKS))
    parser.add_argument("--timeout", type=float,
                        help=f"seconds per benchmark (default {QUICK_TIMEOUT:g} with --quick, "
                        f"else {FULL_TIMEOUT:g})")
    parser.add_argument("--log-dir", type=Path, help="where the logs go (default: a new "
                        "temporary directory, kept)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if a target is missed or a benchmark failed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    benches = selected(args.only)
    timeout = args.timeout or (QUICK_TIMEOUT if args.quick else FULL_TIMEOUT)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="resumable-benchmarks-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"logs: {log_dir}", flush=True)
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for bench in benches:
        if bench.needs_airflow and not airflow_importable():
            outcome = skipped(bench, "`import airflow` fails in this interpreter")
        else:
            outcome = run_child(bench, args, log_dir, timeout)
        outcomes.append(outcome)
        print(finished_line(outcome), flush=True)
    table = [row for outcome in outcomes for row in rows(outcome)]
    print()
    print_table(("benchmark", "measure", "figure", "target", "met"),
                [(r.benchmark, r.measure, r.figure, r.target, yes_no(r.met)) for r in table])
    missed = [r for r in table if r.met is False]
    print()
    print(f"{len(benches)} benchmarks in {time.perf_counter() - started:.0f} s; "
          + (f"{len(missed)} rows NO" if missed else "every target met"))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())

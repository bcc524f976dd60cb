"""Run an operator's ``execute`` in a real worker process that a test can SIGKILL.

Usage (what :func:`start_worker` runs)::

    python -m tests.support.worker MODULE:CLASS --store-url URL --dag D --run R --task T
        [--map-index N] [--kwargs JSON]

The worker builds ``CLASS(**kwargs)``, calls ``execute({"task_store": <task store>})``
on the given store and scope, and prints ``RESULT <json>`` on its last line. It prints
``STARTED <pid>`` first. The process runs in its own session (process group), so
:func:`kill_worker` can SIGKILL it and anything it started.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["finish_worker", "kill_worker", "start_worker"]

_ROOT = Path(__file__).resolve().parents[2]


def start_worker(target: str, *, store_url: str, dag: str = "dag", run: str = "run",
                 task: str = "task", map_index: int = -1, kwargs: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start a worker process running ``target`` (``module:Class``); stdout is a pipe."""
    argv = [sys.executable, "-m", "tests.support.worker", target, "--store-url", store_url,
            "--dag", dag, "--run", run, "--task", task, "--map-index", str(map_index),
            "--kwargs", json.dumps(kwargs or {})]
    full_env = {**os.environ, "PYTHONPATH": str(_ROOT), **(env or {})}
    return subprocess.Popen(argv, cwd=_ROOT, env=full_env, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_worker(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the worker's whole process group and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


def finish_worker(proc: subprocess.Popen[str], timeout: float = 120) -> Any:
    """Wait for the worker to exit 0 and return the result it printed."""
    out, _ = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"worker exited {proc.returncode}; output:\n{out}")
    last = [line for line in out.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(last[len("RESULT "):])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.support.worker")
    parser.add_argument("target")
    parser.add_argument("--store-url", required=True)
    parser.add_argument("--dag", default="dag")
    parser.add_argument("--run", default="run")
    parser.add_argument("--task", default="task")
    parser.add_argument("--map-index", type=int, default=-1)
    parser.add_argument("--kwargs", default="{}")
    args = parser.parse_args(argv)
    from store_client import TaskScope, connect

    module_name, _, class_name = args.target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    print(f"STARTED {os.getpid()}", flush=True)
    with connect(args.store_url) as client:
        store = client.task_store(TaskScope(args.dag, args.run, args.task, args.map_index))
        result = cls(**json.loads(args.kwargs)).execute({"task_store": store})
    print(f"RESULT {json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

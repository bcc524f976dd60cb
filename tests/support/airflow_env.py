"""Run the example DAGs in real Apache Airflow (3.3), each ``dag.test()`` in its own process.

How it works: :class:`AirflowHome` is a throwaway ``AIRFLOW_HOME`` (SQLite metadata DB,
examples off, ``dags_folder`` = ``examples/dags``) migrated once with ``airflow db
migrate``. :meth:`AirflowHome.run` starts ``python -m tests.support.airflow_env`` in a
new process group with that environment; the child parses the folder with ``DagBag``
and calls ``get_dag(ID).test(logical_date=...)`` for each requested run, then writes
one JSON result file (run IDs and states). Airflow is imported only in that child, so
the pytest process keeps no Airflow configuration. The parent reads what Airflow wrote
(task instances, ``task_state_store``, ``asset_state_store``, XComs) straight from the
metadata DB with SQLAlchemy.

A run may name a *setup*: ``"module:function"`` plus JSON keyword arguments, a context
manager factory the child enters around that run's ``dag.test()`` (faults, in-process
servers such as moto); the value it yields, if callable, is called after the run and
its JSON result is returned as the run's ``report``. :func:`fail_first_try` is the
fault most setups install: it makes a method raise :class:`SimulatedCrash` on a task's
first try only, which ``dag.test()`` (tries run in-process) handles like a worker that
died there, with ``retries=1`` and no retry delay.

What it does not do: run a scheduler, an executor or an API server (every try runs in
the child process), or clean the home between runs (each run has its own logical
date, dag IDs differ per DAG file).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from tests.support.processes import kill_group

__all__ = ["DAGS_FOLDER", "ROOT", "AirflowHome", "DagRunResult", "MetadataDB", "RunSpec",
           "RunningTry", "SimulatedCrash", "StateRow", "TaskTry", "airflow_installed",
           "fail_first_try", "running_try"]

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "examples" / "dags"
_RESULT_ENV = "RESUMABLE_AIRFLOW_ENV_RESULT"


def airflow_installed() -> bool:
    """True if ``apache-airflow`` can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("airflow") is not None


@contextlib.contextmanager
def migrated_home() -> Iterator[AirflowHome]:
    """A temporary ``AIRFLOW_HOME`` with a migrated SQLite metadata DB, removed afterwards
    (a skip without Airflow, a failure under ``RESUMABLE_STRICT=1``)."""
    from tests.support import require_or_skip

    if not airflow_installed():
        require_or_skip("apache-airflow is not installed: pip install 'resumable[airflow]'")
    home = AirflowHome()
    try:
        home.migrate()
        yield home
    finally:
        home.close()


@dataclass(frozen=True)
class RunSpec:
    """One ``dag.test()``: the DAG, its logical date, and an optional setup around it."""

    dag_id: str
    logical_date: datetime | None = None
    setup: str | None = None
    setup_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"dag_id": self.dag_id, "setup": self.setup, "setup_kwargs": dict(self.setup_kwargs),
                "logical_date": self.logical_date.isoformat() if self.logical_date else None}


@dataclass(frozen=True)
class DagRunResult:
    """What one ``dag.test()`` returned: its run, state, and the setup's report."""

    dag_id: str
    run_id: str
    state: str
    seconds: float
    report: Any = None


@dataclass(frozen=True)
class TaskTry:
    """A task instance as the metadata DB has it after the run."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int


@dataclass(frozen=True)
class StateRow:
    """One row of Airflow's ``task_state_store`` (value decoded from its JSON)."""

    task_id: str
    map_index: int
    key: str
    value: Any
    expires_at: str | None


class MetadataDB:
    """Reads what Airflow wrote in its SQLite metadata DB (plain SQLAlchemy, no Airflow).

    Usable in the test process and, with :meth:`from_env`, inside a running child.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._engine = create_engine(f"sqlite:///{path}")

    @classmethod
    def from_env(cls) -> MetadataDB:
        """The metadata DB of ``$AIRFLOW_HOME`` (inside a child process)."""
        return cls(Path(os.environ["AIRFLOW_HOME"]) / "airflow.db")

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        with self._engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def task_tries(self, dag_id: str, run_id: str) -> dict[tuple[str, int], TaskTry]:
        """Every task instance of the run, by ``(task_id, map_index)``."""
        rows = self._rows("SELECT task_id, map_index, state, try_number FROM task_instance "
                          "WHERE dag_id = :d AND run_id = :r", d=dag_id, r=run_id)
        return {(r.task_id, r.map_index): TaskTry(r.task_id, r.map_index, r.state,
                                                  r.try_number) for r in rows}

    def task_state(self, dag_id: str, run_id: str) -> list[StateRow]:
        """Airflow's ``task_state_store`` rows of the run, ordered by task, index, key."""
        rows = self._rows("SELECT task_id, map_index, key, value, expires_at "
                          "FROM task_state_store WHERE dag_id = :d AND run_id = :r "
                          "ORDER BY task_id, map_index, key", d=dag_id, r=run_id)
        return [StateRow(r.task_id, r.map_index, r.key, json.loads(r.value),
                         None if r.expires_at is None else str(r.expires_at)) for r in rows]

    def asset_state(self, asset_name: str) -> dict[str, Any]:
        """Airflow's ``asset_state_store`` of the asset named ``asset_name``."""
        rows = self._rows("SELECT s.key, s.value FROM asset_state_store s JOIN asset a "
                          "ON a.id = s.asset_id WHERE a.name = :n", n=asset_name)
        return {r.key: json.loads(r.value) for r in rows}

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The ``return_value`` XCom of one task instance (None if it pushed none)."""
        rows = self._rows("SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r AND "
                          "task_id = :t AND map_index = :m AND key = 'return_value'",
                          d=dag_id, r=run_id, t=task_id, m=map_index)
        return json.loads(rows[0].value) if rows else None

    def close(self) -> None:
        self._engine.dispose()


class AirflowHome:
    """A temporary ``AIRFLOW_HOME`` with a SQLite metadata DB (:meth:`migrate` it first).

    Each :meth:`run` or :meth:`parse` is one child process, its output in ``run-N.log``
    here; a failed child raises ``AssertionError`` quoting the end of that log (the
    directory is deleted by :meth:`close`).
    """

    def __init__(self, *, dags_folder: Path = DAGS_FOLDER) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="resumable-airflow-"))
        self.dags_folder = dags_folder
        self.db = MetadataDB(self.path / "airflow.db")
        self._children = 0

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A child's environment: ours plus ``extra``, no inherited ``AIRFLOW*`` variable."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **base,
            "AIRFLOW_HOME": str(self.path),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "PYTHONPATH": str(ROOT),
            # Code falling back to the default store must not write to the user's files.
            "RESUMABLE_STORE_URL": f"sqlite:///{self.path / 'resumable-store.db'}",
            "RESUMABLE_EXAMPLE_RETRY_DELAY_SECONDS": "0",
            **(extra or {}),
        }

    def migrate(self, timeout: float = 180) -> None:
        """``airflow db migrate`` (about 4 s)."""
        airflow = Path(sys.executable).with_name("airflow")
        argv = [str(airflow)] if airflow.exists() else [sys.executable, "-m", "airflow"]
        self._child([*argv, "db", "migrate"], self.env(), timeout)

    def run(self, *runs: RunSpec, env: Mapping[str, str] | None = None,
            timeout: float = 240) -> list[DagRunResult]:
        """Run ``runs`` in order in one new process (``env`` added to its environment)."""
        argv = ["--runs", json.dumps([r.to_json() for r in runs])]
        return [DagRunResult(**r) for r in self._airflow_env(argv, env, timeout)]

    def parse(self, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Parse the DAG folder in a child: DAG IDs, import errors, each task's callable."""
        parsed: dict[str, Any] = self._airflow_env(["--parse"], env, 120)
        return parsed

    def _airflow_env(self, args: list[str], env: Mapping[str, str] | None,
                     timeout: float) -> Any:
        result = self.path / f"result-{self._children + 1}.json"
        self._child([sys.executable, "-m", "tests.support.airflow_env", *args],
                    {**self.env(env), _RESULT_ENV: str(result)}, timeout)
        return json.loads(result.read_text())

    def cli(self, *args: str, env: Mapping[str, str] | None = None,
            timeout: float = 180.0) -> None:
        """Run ``airflow *args`` in this home (own process group, output in a log here)."""
        airflow = Path(sys.executable).with_name("airflow")
        argv = [str(airflow)] if airflow.exists() else [sys.executable, "-m", "airflow"]
        self._child([*argv, *args], self.env(env), timeout)

    def _child(self, argv: list[str], env: dict[str, str], timeout: float) -> None:
        self._children += 1
        log = self.path / f"run-{self._children}.log"
        with log.open("w") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc.pid)
                proc.wait(timeout=30)
                raise AssertionError(f"{argv[:4]} timed out after {timeout} s; log tail:\n"
                                     f"{_tail(log)}") from None
        if code != 0:
            raise AssertionError(f"{argv[:4]} exited {code}; log tail:\n{_tail(log)}")

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _tail(log: Path, lines: int = 80) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


# -- faults (used inside the child, by setups) ------------------------------------------

class SimulatedCrash(RuntimeError):
    """Raised by :func:`fail_first_try`: the try ends here, as if the worker had died."""


@dataclass(frozen=True)
class RunningTry:
    """The running Airflow task instance: what :func:`fail_first_try` filters on."""

    task_id: str
    map_index: int
    try_number: int


def running_try() -> RunningTry:
    """The task instance running in this (child) process, from Airflow's current context."""
    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    return RunningTry(str(ti.task_id), int(getattr(ti, "map_index", -1)), int(ti.try_number))


@contextlib.contextmanager
def fail_first_try(owner: Any, name: str, *, when: Callable[..., bool] | None = None,
                   task_id: str | None = None, map_index: int | None = None,
                   after: bool = False) -> Iterator[list[str]]:
    """Patch ``owner.name`` to raise :class:`SimulatedCrash` on a task's first try.

    Only when ``when(*args, **kwargs)`` is true (default: always) and, if given, in that
    task and map index. ``after=True`` lets the original run first, so the crash follows
    its side effect (a submission made whose ID was never stored). Yields the list of
    crashes (``"task[index] try N: name"``), filled as they happen.
    """
    original = getattr(owner, name)
    crashes: list[str] = []

    def hit(args: tuple[Any, ...], kwargs: dict[str, Any]) -> RunningTry | None:
        now = running_try()
        if (now.try_number != 1 or task_id not in (None, now.task_id)
                or map_index not in (None, now.map_index)):
            return None
        return now if when is None or when(*args, **kwargs) else None

    @functools.wraps(original)
    def patched(*args: Any, **kwargs: Any) -> Any:
        crash = hit(args, kwargs)
        if crash is not None and not after:
            crashes.append(f"{crash.task_id}[{crash.map_index}] try 1: {name}")
            raise SimulatedCrash(f"simulated worker death in {name}")
        result = original(*args, **kwargs)
        if crash is not None:
            crashes.append(f"{crash.task_id}[{crash.map_index}] try 1: after {name}")
            raise SimulatedCrash(f"simulated worker death after {name} returned")
        return result

    setattr(owner, name, patched)
    try:
        yield crashes
    finally:
        setattr(owner, name, original)


# -- the child process --------------------------------------------------------------------

def _load(spec: str) -> Callable[..., Any]:
    module, _, attr = spec.partition(":")
    fn: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return fn


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _child_run(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from airflow.dag_processing.dagbag import DagBag

    results = []
    for spec in specs:
        setup = (_load(spec["setup"])(**spec["setup_kwargs"]) if spec["setup"]
                 else contextlib.nullcontext())
        with setup as report:
            bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])  # in the setup's env
            if bag.import_errors:
                raise RuntimeError(f"DAG import errors: {bag.import_errors}")
            dag = bag.get_dag(spec["dag_id"])
            if dag is None:
                raise RuntimeError(f"no DAG {spec['dag_id']!r} in {sorted(bag.dag_ids)}")
            started = time.monotonic()
            logical = spec["logical_date"]
            dag_run = dag.test(logical_date=datetime.fromisoformat(logical)) if logical \
                else dag.test()
            seconds = time.monotonic() - started
            extra = report() if callable(report) else report
        results.append({"dag_id": spec["dag_id"], "run_id": dag_run.run_id,
                        "state": str(dag_run.state.value if hasattr(dag_run.state, "value")
                                     else dag_run.state),
                        "seconds": round(seconds, 2), "report": _json_safe(extra)})
    return results


def _child_parse() -> dict[str, Any]:
    import inspect

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    tasks: dict[str, dict[str, Any]] = {}
    for dag_id in sorted(bag.dag_ids):
        dag = bag.get_dag(dag_id)
        assert dag is not None
        for task in dag.tasks:
            info: dict[str, Any] = {"operator": type(task).__name__}
            fn = getattr(task, "python_callable", None)
            if fn is not None:
                info["signature"] = str(inspect.signature(fn))
                info["op_kwargs"] = sorted(getattr(task, "op_kwargs", {}) or {})
            tasks[f"{dag_id}.{task.task_id}"] = info
    return {"dag_ids": sorted(bag.dag_ids), "tasks": tasks,
            "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}}


def main(argv: list[str] | None = None) -> int:
    """The child: ``--parse``, or run the JSON list of run specs; result to a file."""
    parser = argparse.ArgumentParser(prog="python -m tests.support.airflow_env")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--runs", help="JSON list of RunSpec.to_json()")
    mode.add_argument("--parse", action="store_true")
    args = parser.parse_args(argv)
    result: Any = _child_parse() if args.parse else _child_run(json.loads(args.runs))
    Path(os.environ[_RESULT_ENV]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

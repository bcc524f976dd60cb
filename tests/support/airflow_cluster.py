"""A real multi-process Airflow 3.3 for tests: api-server, dag-processor, scheduler, triggerer.

How it works: :class:`AirflowCluster` makes a temporary ``AIRFLOW_HOME`` (SQLite metadata
DB, examples off, ``dags_folder`` = the folder given, ``LocalExecutor``), runs ``airflow db
migrate``, then starts ``airflow api-server`` on a free loopback port, ``airflow
dag-processor`` and ``airflow scheduler``, each in its own process group with its output
in ``<home>/<name>.log``. Workers reach the Execution API at ``http://127.0.0.1:PORT/
execution/``; the REST API needs no credentials (``simple_auth_manager_all_admins``).
With ``triggerer=True`` an ``airflow triggerer`` runs too, for deferrable tasks;
:meth:`~AirflowCluster.kill_daemon` SIGKILLs one daemon's process groups (as a crash
would) and :meth:`~AirflowCluster.start_daemon` starts it again, its output appended to
the same log.
The settings below shorten every loop that a one-task test waits on; an ``extra_env``
mapping adds to (or overrides) them and reaches the task processes too.

Everything listens on 127.0.0.1 only: the api-server is given ``--host 127.0.0.1``, and
the scheduler and the triggerer ``--skip-serve-logs``, because their log servers (ports
8793 and 8794) bind every interface and have no setting to bind less. Nothing reads
logs through them: the api-server and the tests read the task log files in the home.
:meth:`~AirflowCluster.pids` gives the daemons' PIDs, for :mod:`tests.support.sockets`
to check that.

:meth:`~AirflowCluster.trigger` waits for the DAG to be parsed, then creates a run through
``POST /api/v2/dags/{dag_id}/dagRuns``; :meth:`~AirflowCluster.wait_for_run` polls the
run until it is ``success`` or ``failed``. The metadata DB is read directly with
SQLAlchemy (:meth:`task_state_rows`, :meth:`task_tries`, :meth:`task_trigger`, :meth:`xcom`);
:meth:`task_instance_state` asks the REST API. :meth:`close` SIGKILLs every
process group it started, plus the groups of their descendants (the supervisor puts each
task process in a group of its own), then deletes the home.

What it does not do: run a triggerer unless asked, use PostgreSQL, or survive a machine
without ``airflow`` (callers check :func:`airflow_available`). A restarted triggerer takes
over the dead one's triggers once its heartbeat is ``triggerer_health_check_threshold``
(here 5 s) old. Limits: 13-19 s from ``start()`` until the API answers on 2 cores (3.5 s
of it the migration); one DAG folder per cluster; ``free_port`` can race with another
process taking the port.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from tests.support.processes import ManagedServer, child_pids, kill_group

__all__ = ["AirflowCluster", "DagRunOutcome", "StateStoreRow", "TaskTry", "airflow_available",
           "free_port"]

ROOT = Path(__file__).resolve().parents[2]
DAEMONS = ("api-server", "dag-processor", "scheduler")
TRIGGERER = "triggerer"
# Their log servers bind every interface (host ""): never start them.
NO_LOG_SERVER = ("--skip-serve-logs",)
FINAL_RUN_STATES = frozenset({"success", "failed"})

# Short loops: the scheduler looks for work every 0.2 s, the dag-processor parses the folder
# once at start; one API worker and two executor slots, as the machine has two cores.
FAST_SETTINGS: Mapping[str, str] = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__CORE__PARALLELISM": "2",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__API__HOST": "127.0.0.1",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
    # Off by default; should it ever be turned on, loopback only (the default is 0.0.0.0).
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
    # The task supervisor's select() waits up to this long (default 5 s) between checks, and a
    # SIGKILLed task process often goes unnoticed for that long: its sockets reach EOF before
    # it can be reaped, leaving nothing to wake the select() early.
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "300",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "300",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    # A triggerer heartbeats every second; one silent for 5 s is dead, its triggers taken over.
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
}


def airflow_available() -> bool:
    """True if the ``airflow`` command sits next to this Python (the venv's)."""
    return _airflow_argv() is not None


def _airflow_argv() -> list[str] | None:
    command = Path(sys.executable).with_name("airflow")
    if command.exists():
        return [str(command)]
    found = shutil.which("airflow")
    return [found] if found else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class DagRunOutcome:
    """A DAG run once it ended: its state and how long the wait took."""

    dag_id: str
    run_id: str
    state: str
    seconds: float


@dataclass(frozen=True)
class TaskTry:
    """One try of a task, from ``task_instance`` (the last try) or its history table."""

    task_id: str
    try_number: int
    state: str | None
    pid: int | None
    hostname: str | None


@dataclass(frozen=True)
class StateStoreRow:
    """One row of Airflow's ``task_state_store`` (value decoded from its JSON)."""

    task_id: str
    map_index: int
    key: str
    value: Any
    expires_at: str | None


class AirflowCluster(ManagedServer):
    """Airflow's daemons on a throwaway home; ``with AirflowCluster(dags) as af:``."""

    def __init__(self, dags_folder: Path, *, extra_env: Mapping[str, str] | None = None,
                 startup_timeout: float = 120.0, triggerer: bool = False) -> None:
        self.dags_folder = Path(dags_folder)
        self.daemons = DAEMONS + ((TRIGGERER,) if triggerer else ())
        self.extra_env = dict(extra_env or {})
        self.startup_timeout = startup_timeout
        self.home = Path()
        self.port = 0
        self.url = ""
        self.startup_seconds = 0.0
        self._secret = secrets.token_hex(32)  # 64 bytes: what HS512 wants
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The daemons' environment: ours without ``AIRFLOW*`` variables, plus the settings."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **base,
            **FAST_SETTINGS,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            # Shared by the daemons: tokens one signs, another must accept.
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret,
            "AIRFLOW__API__SECRET_KEY": self._secret,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")])),
            **self.extra_env,
        }

    def start(self) -> None:
        """Migrate the DB, start the three daemons, wait until the REST API answers.

        On any failure everything started so far is stopped and the home deleted.
        """
        self._check_open()
        argv = _airflow_argv()
        if argv is None:
            raise RuntimeError("the airflow command is not installed")
        started = time.monotonic()
        self.home = Path(tempfile.mkdtemp(prefix="resumable-airflow-cluster-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._finalizer = weakref.finalize(self, _teardown, self._procs, self.home)
        try:
            self._start(argv)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - started

    def _start(self, argv: list[str]) -> None:
        started = time.monotonic()
        env = self.env()
        migrate_log = self.home / "migrate.log"
        with migrate_log.open("wb") as out:
            proc = subprocess.Popen([*argv, "db", "migrate"], cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout=self.startup_timeout)
            finally:
                kill_group(proc.pid)
        if code != 0:
            raise RuntimeError(f"airflow db migrate exited {code}:\n{_tail(migrate_log)}")
        for name in self.daemons:
            self._launch(argv, name, env)
        left = self.startup_timeout - (time.monotonic() - started)
        self._poll(lambda: self._get("/api/v2/monitor/health") is not None, left,
                   "the API to answer")

    def _launch(self, argv: list[str], name: str, env: Mapping[str, str]) -> None:
        with (self.home / f"{name}.log").open("ab") as out:
            self._procs[name] = subprocess.Popen(
                [*argv, name, *self._daemon_args(name)], cwd=ROOT, env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True)

    def kill_daemon(self, name: str) -> int:
        """SIGKILL one daemon's process group and its descendants' groups; return its PID.

        No cleanup runs, as when the machine loses the process; it stays stopped until
        :meth:`start_daemon`.
        """
        self._check_alive()
        proc = self._procs.pop(name)
        for pid in [proc.pid, *_descendants(proc.pid)]:  # listed before anything dies
            kill_group(pid)
        proc.wait(timeout=30)
        return proc.pid

    def start_daemon(self, name: str) -> int:
        """Start a daemon :meth:`kill_daemon` stopped (its log appended to); return its PID."""
        self._check_open()
        argv = _airflow_argv()
        if argv is None or name in self._procs or name not in self.daemons:
            raise RuntimeError(f"cannot start {name!r} (running: {sorted(self._procs)})")
        self._launch(argv, name, self.env())
        return self._procs[name].pid

    def _daemon_args(self, name: str) -> list[str]:
        """The command-line options of one daemon: whatever it serves, on loopback only."""
        if name == "api-server":
            return ["--port", str(self.port), "--host", "127.0.0.1"]
        if name in ("scheduler", TRIGGERER):
            return list(NO_LOG_SERVER)
        return []

    def pids(self) -> dict[str, int]:
        """Each running daemon's PID (its children, such as task processes, not included)."""
        self._check_alive()
        return {name: proc.pid for name, proc in self._procs.items()}

    def wait_for_daemons(self, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the scheduler, dag-processor (and triggerer, if running) heartbeat;
        return the health report.

        By then each has started whatever it serves (a scheduler starts its log server
        before its first heartbeat).
        """
        parts = ["metadatabase", "scheduler", "dag_processor"]
        if TRIGGERER in self._procs:
            parts.append(TRIGGERER)

        def healthy() -> bool:
            report = self._get("/api/v2/monitor/health") or {}
            return all((report.get(part) or {}).get("status") == "healthy" for part in parts)

        self._poll(healthy, timeout, f"{', '.join(parts[1:])} to heartbeat")
        report: dict[str, Any] = self._get("/api/v2/monitor/health")
        return report

    # -- REST API ------------------------------------------------------------------------

    def _get(self, path: str) -> Any:
        """``GET path`` as JSON, or None if the server did not answer 200 (yet)."""
        self._check_alive()
        try:
            reply = httpx.get(self.url + path, timeout=10)
        except httpx.TransportError:
            return None
        return reply.json() if reply.status_code == 200 else None

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None, *,
                timeout: float = 60.0) -> str:
        """Wait until ``dag_id`` is parsed, create a manual run of it; return its run ID."""
        self._poll(lambda: self._get(f"/api/v2/dags/{dag_id}") is not None, timeout,
                   f"DAG {dag_id!r} to be parsed")
        reply = httpx.post(f"{self.url}/api/v2/dags/{dag_id}/dagRuns", timeout=30,
                           json={"logical_date": None, "conf": dict(conf or {})})
        if reply.status_code != 200:
            raise AssertionError(f"triggering {dag_id}: {reply.status_code} {reply.text}")
        run_id: str = reply.json()["dag_run_id"]
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        """The run's state as the REST API reports it (None if not readable)."""
        run = self._get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return None if run is None else str(run["state"])

    def task_instance_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        """A task instance's state as the REST API reports it (None if not readable)."""
        ti = self._get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        return None if ti is None or ti.get("state") is None else str(ti["state"])

    def wait_for_task_state(self, dag_id: str, run_id: str, task_id: str, states: set[str],
                            timeout: float = 60.0) -> str:
        """Poll a task instance until its state is one of ``states``; return it."""
        self._poll(lambda: self.task_instance_state(dag_id, run_id, task_id) in states,
                   timeout, f"{task_id} of {run_id} to be {sorted(states)}")
        state = self.task_instance_state(dag_id, run_id, task_id)
        assert state is not None
        return state

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120.0) -> DagRunOutcome:
        """Poll the run until it is ``success`` or ``failed``; raise after ``timeout``."""
        started = time.monotonic()
        self._poll(lambda: self.run_state(dag_id, run_id) in FINAL_RUN_STATES, timeout,
                   f"run {run_id} of {dag_id} to end")
        state = self.run_state(dag_id, run_id)
        assert state is not None
        return DagRunOutcome(dag_id, run_id, state, time.monotonic() - started)

    # -- metadata DB ---------------------------------------------------------------------

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        engine = create_engine(f"sqlite:///{self.home / 'airflow.db'}")
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params))
        finally:
            engine.dispose()

    def task_tries(self, dag_id: str, run_id: str, task_id: str) -> list[TaskTry]:
        """Every try of one task, oldest first (``task_instance_history`` + the last try)."""
        sql = ("SELECT task_id, try_number, state, pid, hostname FROM {table} "
               "WHERE dag_id = :d AND run_id = :r AND task_id = :t")
        rows = [*self._rows(sql.format(table="task_instance_history"), d=dag_id, r=run_id,
                            t=task_id),
                *self._rows(sql.format(table="task_instance"), d=dag_id, r=run_id, t=task_id)]
        tries = {r.try_number: TaskTry(r.task_id, r.try_number, r.state, r.pid, r.hostname)
                 for r in rows}
        return [tries[n] for n in sorted(tries)]

    def task_trigger(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
        """The trigger a deferred task instance waits on: its ID, class path and the ID of
        the triggerer job running it (None: no trigger, or not assigned yet)."""
        rows = self._rows("SELECT t.id, t.classpath, t.triggerer_id FROM task_instance ti "
                          "JOIN trigger t ON t.id = ti.trigger_id WHERE ti.dag_id = :d AND "
                          "ti.run_id = :r AND ti.task_id = :t", d=dag_id, r=run_id, t=task_id)
        if not rows:
            return None
        return {"id": rows[0].id, "classpath": rows[0].classpath,
                "triggerer_id": rows[0].triggerer_id}

    def task_state_rows(self, dag_id: str, run_id: str) -> list[StateStoreRow]:
        """Airflow's ``task_state_store`` rows of the run, ordered by task, index, key."""
        rows = self._rows("SELECT task_id, map_index, key, value, expires_at "
                          "FROM task_state_store WHERE dag_id = :d AND run_id = :r "
                          "ORDER BY task_id, map_index, key", d=dag_id, r=run_id)
        return [StateStoreRow(r.task_id, r.map_index, r.key, json.loads(r.value),
                              None if r.expires_at is None else str(r.expires_at))
                for r in rows]

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The ``return_value`` XCom of one task instance (None if it pushed none)."""
        rows = self._rows("SELECT value FROM xcom WHERE dag_id = :d AND run_id = :r AND "
                          "task_id = :t AND map_index = :m AND key = 'return_value'",
                          d=dag_id, r=run_id, t=task_id, m=map_index)
        return json.loads(rows[0].value) if rows else None

    # -- diagnostics ---------------------------------------------------------------------

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The log file of one try, as the worker wrote it ("" if there is none)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / \
            f"task_id={task_id}"
        found = sorted(folder.glob(f"attempt={try_number}.log"))
        return found[0].read_text(errors="replace") if found else ""

    def diagnostics(self, lines: int = 40) -> str:
        """The end of each daemon's log, for an assertion message."""
        return "\n".join(f"--- {name}.log ---\n{_tail(self.home / f'{name}.log', lines)}"
                         for name in self.daemons)

    def _check_alive(self) -> None:
        self._check_open()
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited {proc.returncode}:\n"
                                     f"{_tail(self.home / f'{name}.log')}")

    def _poll(self, condition: Any, timeout: float, what: str) -> None:
        retrying = Retrying(stop=stop_after_delay(max(timeout, 0.0)), wait=wait_fixed(0.2),
                            retry=retry_if_result(lambda ok: not ok), reraise=True)
        try:
            retrying(condition)
        except RetryError:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                                 f"{self.diagnostics()}") from None


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in child_pids(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def _teardown(procs: dict[str, subprocess.Popen[bytes]], home: Path) -> None:
    """SIGKILL every daemon's group and its descendants' groups; delete the home."""
    for proc in procs.values():
        for pid in [proc.pid, *_descendants(proc.pid)]:
            kill_group(pid)
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL: should not happen
            proc.wait(timeout=30)
    procs.clear()
    if home != Path():
        shutil.rmtree(home, ignore_errors=True)


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"

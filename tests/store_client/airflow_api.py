"""A real Airflow 3.3 REST API for the store client's tests: ``airflow api-server`` on loopback.

How it works: :class:`AirflowApiServer` makes a temporary ``AIRFLOW_HOME`` (SQLite metadata
DB, examples off) holding one DAG file (:data:`DAG_FILE`) and a simple-auth-manager
passwords file (users ``admin`` and ``viewer``, known passwords), runs ``airflow db
migrate``, then starts ``airflow api-server --apps core`` on a free 127.0.0.1 port and
``airflow dags reserialize`` side by side (each in its own process group). Reserializing
writes the DAGs and their assets to the DB; the runs (:data:`RUNS`) are then created with
``POST /api/v2/dags/{dag_id}/dagRuns``, which creates their task instances too. No
scheduler runs, so no task ever executes: the state-store routes only need the rows.

The server is set up for the tests: a page holds at most :data:`PAGE_LIMIT` entries
(``[api] maximum_page_limit``), a value at most :data:`MAX_VALUE_BYTES` bytes
(``[state_store] max_value_storage_bytes``), and the JWT secret is known, so
:meth:`AirflowApiServer.expired_token` can sign a token Airflow reads as expired. The
metadata DB is read and emptied straight with SQLAlchemy (:meth:`task_state_rows`,
:meth:`wipe_state`).

What it does not do: run a scheduler, dag-processor or execution API; use PostgreSQL.
Limits: about 15-20 s to start on 2 cores (migration 3 s, API 13 s); ``close()`` SIGKILLs
every process group it started and deletes the home.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, text
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from tests.support.processes import ManagedServer

__all__ = ["DAG_FILE", "MAX_VALUE_BYTES", "PAGE_LIMIT", "RUNS", "AirflowApiServer",
           "StateRow", "airflow_command", "free_port"]

ROOT = Path(__file__).resolve().parents[2]
PAGE_LIMIT = 25
MAX_VALUE_BYTES = 4096
#: (dag_id, run_id) of every run created at start.
RUNS = (("dag", "run"), ("dag", "run2"), ("dag2", "run"))

#: Task ``dag.task`` and ``dag.other`` (unmapped), ``dag.mapped`` (map indices 0-2),
#: ``dag2.task``; assets ``orders`` (URI ``s3://bucket/orders``), ``k``, ``other`` and one
#: whose name holds a ``|``.
DAG_FILE = textwrap.dedent('''
    from datetime import datetime

    from airflow.sdk import DAG, Asset, task

    ASSETS = [Asset(name="orders", uri="s3://bucket/orders"), Asset(name="k", uri="k"),
              Asset(name="other", uri="other"), Asset(name="a|b", uri="s3://bucket/a-b")]

    with DAG("dag", schedule=None, start_date=datetime(2026, 1, 1)):
        @task(task_id="task", outlets=ASSETS)
        def first():
            pass

        @task(task_id="other")
        def second():
            pass

        @task(task_id="mapped")
        def mapped(x):
            pass

        first() >> second() >> mapped.expand(x=[0, 1, 2])

    with DAG("dag2", schedule=None, start_date=datetime(2026, 1, 1)):
        @task(task_id="task")
        def only():
            pass

        only()
''')


def airflow_command() -> list[str] | None:
    """The ``airflow`` command of this venv (or on PATH), or None if not installed."""
    command = Path(sys.executable).with_name("airflow")
    if command.exists():
        return [str(command)]
    found = shutil.which("airflow")
    return [found] if found else None


@dataclass(frozen=True)
class StateRow:
    """One row of Airflow's ``task_state_store`` as stored (value is the JSON text)."""

    task_id: str
    map_index: int
    key: str
    value: str
    expires_at: str | None


class AirflowApiServer(ManagedServer):
    """``airflow api-server`` on a throwaway home; ``with AirflowApiServer() as af:``."""

    def __init__(self, *, startup_timeout: float = 150.0) -> None:
        self.startup_timeout = startup_timeout
        self.home = Path()
        self.port = 0
        self.url = ""
        self.passwords = {"admin": secrets.token_urlsafe(12),
                          "viewer": secrets.token_urlsafe(12)}
        self.jwt_secret = secrets.token_hex(32)
        self.timings: dict[str, float] = {}
        self._procs: list[subprocess.Popen[bytes]] = []
        self._engine: Engine | None = None

    @property
    def api_url(self) -> str:
        """The REST API root, ``http://127.0.0.1:PORT/api/v2``."""
        return f"{self.url}/api/v2"

    def env(self) -> dict[str, str]:
        """The environment of the airflow commands: ours minus ``AIRFLOW*``, plus settings."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **base,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.home / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
            "AIRFLOW__API__SECRET_KEY": self.jwt_secret,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__MAXIMUM_PAGE_LIMIT": str(PAGE_LIMIT),
            "AIRFLOW__STATE_STORE__MAX_VALUE_STORAGE_BYTES": str(MAX_VALUE_BYTES),
        }

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Migrate, start the API and reserialize the DAGs, create the runs."""
        self._check_open()
        argv = airflow_command()
        if argv is None:
            raise RuntimeError("the airflow command is not installed")
        started = time.monotonic()
        self.home = Path(tempfile.mkdtemp(prefix="resumable-airflow-api-"))
        self._finalizer = weakref.finalize(self, _teardown, self._procs, self.home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.home / "dags").mkdir()
        (self.home / "dags" / "store_api_dags.py").write_text(DAG_FILE)
        (self.home / "passwords.json").write_text(json.dumps(self.passwords))
        self._wait(self._spawn(argv, "db", "migrate"), "migrate")
        self.timings["migrate"] = time.monotonic() - started
        server = self._spawn(argv, "api-server", "--apps", "core", "--host", "127.0.0.1",
                             "--port", str(self.port), "--workers", "1", log="api-server")
        self._wait(self._spawn(argv, "dags", "reserialize"), "reserialize")
        self._poll(lambda: self._answers(server), "the API to answer")
        self.timings["api_ready"] = time.monotonic() - started
        token = self.token("admin")
        for dag_id, run_id in RUNS:
            reply = httpx.post(f"{self.api_url}/dags/{dag_id}/dagRuns", timeout=30,
                               headers={"Authorization": f"Bearer {token}"},
                               json={"dag_run_id": run_id, "logical_date": None})
            if reply.status_code != 200:
                raise RuntimeError(f"triggering {dag_id}: {reply.status_code} {reply.text}")
        self.timings["start"] = time.monotonic() - started

    def _spawn(self, argv: list[str], *args: str, log: str | None = None
               ) -> subprocess.Popen[bytes]:
        name = log or args[-1]
        with (self.home / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen([*argv, *args], cwd=ROOT, env=self.env(), stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self._procs.append(proc)
        return proc

    def _wait(self, proc: subprocess.Popen[bytes], name: str) -> None:
        try:
            code = proc.wait(timeout=self.startup_timeout)
        except subprocess.TimeoutExpired:
            code = None
        _kill_group(proc)  # whatever it left behind in its group
        if code != 0:
            raise RuntimeError(f"airflow {name} ended with {code}:\n{self.log_tail(name)}")

    def _answers(self, server: subprocess.Popen[bytes]) -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"airflow api-server exited {server.returncode}:\n"
                               f"{self.log_tail('api-server')}")
        try:
            return httpx.get(f"{self.api_url}/monitor/health", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def _poll(self, condition: Any, what: str) -> None:
        retrying = Retrying(stop=stop_after_delay(self.startup_timeout), wait=wait_fixed(0.2),
                            retry=retry_if_result(lambda ok: not ok), reraise=True)
        try:
            retrying(condition)
        except RetryError:
            raise RuntimeError(f"timed out waiting for {what}:\n"
                               f"{self.log_tail('api-server')}") from None

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The end of one command's log (``api-server``, ``migrate``, ``reserialize``)."""
        try:
            text_ = (self.home / f"{name}.log").read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text_.splitlines()[-lines:])

    # -- tokens --------------------------------------------------------------------------

    def token(self, user: str = "admin") -> str:
        """A fresh bearer token of ``user`` from ``POST /auth/token``."""
        reply = httpx.post(f"{self.url}/auth/token", timeout=30, json={
            "username": user, "password": self.passwords[user]})
        if reply.status_code != 201:
            raise RuntimeError(f"login of {user}: {reply.status_code} {reply.text}")
        token: str = reply.json()["access_token"]
        return token

    def expired_token(self, user: str = "admin") -> str:
        """A token signed like Airflow's own, expired an hour ago (Airflow answers 401)."""
        import jwt  # PyJWT comes with Airflow

        past = int(time.time()) - 7200
        claims = {"sub": user, "role": user, "teams": [], "jti": uuid.uuid4().hex,
                  "aud": "apache-airflow", "iat": past, "nbf": past, "exp": past + 3600}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS512",
                          headers={"kid": "not-used"})

    # -- metadata DB ---------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(f"sqlite:///{self.home / 'airflow.db'}")
        return self._engine

    def task_state_rows(self, dag_id: str, run_id: str) -> list[StateRow]:
        """Airflow's ``task_state_store`` rows of one run, by task, map index and key."""
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT task_id, map_index, key, value, expires_at FROM task_state_store "
                "WHERE dag_id = :d AND run_id = :r ORDER BY task_id, map_index, key"),
                {"d": dag_id, "r": run_id})
            return [StateRow(r.task_id, r.map_index, r.key, r.value,
                             None if r.expires_at is None else str(r.expires_at))
                    for r in rows]

    def wipe_state(self) -> None:
        """Delete every task and asset state-store row (between tests)."""
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM task_state_store"))
            conn.execute(text("DELETE FROM asset_state_store"))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        super().close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group ``proc`` leads (``start_new_session``: its ID is the pid).

    By group ID, not by looking up the pid's group: the pid of a reaped leader may belong
    to another process by now, but a group ID is not reused while the group has members.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _teardown(procs: list[subprocess.Popen[bytes]], home: Path) -> None:
    """SIGKILL every process group started; delete the home."""
    for proc in procs:
        _kill_group(proc)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL is not ignorable
            proc.wait(timeout=30)
    procs.clear()
    if home != Path():
        shutil.rmtree(home, ignore_errors=True)

"""A small Databricks-Jobs-API-shaped HTTP job server, for the demo and the tests.

How it works: a ``ThreadingHTTPServer`` on 127.0.0.1 answers the four Jobs API 2.1 calls
below and keeps every submitted run in a SQLite file (``--state``), so runs survive a
restart. A run does no work: its state is computed from the wall clock at read time,
PENDING for ``--pending-seconds`` after submission, RUNNING for ``--run-seconds`` (or the
run's ``duration_seconds``), then TERMINATED with SUCCESS (FAILED if submitted with
``"fail": true``). ``idempotency_token`` is honoured as Databricks does: a second
submission with the same token returns the first run's ID and creates nothing.

- ``POST /api/2.1/jobs/runs/submit`` ``{"run_name", "idempotency_token"?, "tasks"?,
  "duration_seconds"?, "fail"?}`` -> ``{"run_id": N}``
- ``GET /api/2.1/jobs/runs/get?run_id=N`` -> the run (``state.life_cycle_state``,
  ``state.result_state`` once terminated, ``start_time``/``end_time`` in ms)
- ``POST /api/2.1/jobs/runs/cancel`` ``{"run_id": N}`` -> ``{}`` (TERMINATED/CANCELED)
- ``GET /api/2.1/jobs/runs/list[?run_name=X]`` -> ``{"runs": [...], "has_more": false}``,
  every run, newest first (the ``run_name`` filter and the ``idempotency_token`` field
  of each run are ours, not the real API's)

Errors are Databricks-shaped ``{"error_code", "message"}``. An unknown run ID is what
real Databricks answers: 400 ``INVALID_PARAMETER_VALUE`` ``"Run N does not exist."``
(Databricks' own SDKs remap exactly that to ``ResourceDoesNotExist``). Bad input is 400
``INVALID_PARAMETER_VALUE``/``MALFORMED_REQUEST``; with ``--token``, a request without
``Authorization: Bearer <token>`` is 401 ``UNAUTHENTICATED``.

Run it as ``python -m resumable.demo jobserver --port 0 --state runs.db``; it prints one line
``LISTENING http://127.0.0.1:PORT`` once ready and serves until SIGTERM or SIGINT.
:class:`JobServer` does that from Python, in its own process group.

What it does not do: run anything, clusters, tasks, outputs, TERMINATING, SKIPPED or
INTERNAL_ERROR states (clients should still handle them), pagination, or TLS.
Limits: loopback only; one SQLite file, requests serialized by one lock; for tests and
demos, not for load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["JobServer", "main"]

_API = "/api/2.1/jobs/runs/"
_SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, run_name TEXT NOT NULL,
    idempotency_token TEXT UNIQUE, submitted_at REAL NOT NULL, pending_seconds REAL NOT NULL,
    run_seconds REAL NOT NULL, fail INTEGER NOT NULL, canceled_at REAL)"""
_COLUMNS = ("run_id, run_name, idempotency_token, submitted_at, pending_seconds, run_seconds,"
            " fail, canceled_at")


class ApiError(Exception):
    """An error answered as ``{"error_code", "message"}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def run_view(row: tuple[Any, ...], now: float) -> dict[str, Any]:
    """The runs/get shape of one ``runs`` row, as of wall-clock time ``now``."""
    run_id, name, token, submitted, pending, running, fail, canceled = row
    started, ended = submitted + pending, submitted + pending + running
    state: dict[str, Any]
    if canceled is not None and canceled < ended:
        end_time = canceled
        state = {"life_cycle_state": "TERMINATED", "result_state": "CANCELED",
                 "state_message": "Run cancelled."}
    elif now >= ended:
        end_time = ended
        result = "FAILED" if fail else "SUCCESS"
        state = {"life_cycle_state": "TERMINATED", "result_state": result,
                 "state_message": "Task failed (submitted with fail=true)." if fail else ""}
    else:
        end_time = 0
        life = "PENDING" if now < started else "RUNNING"
        state = {"life_cycle_state": life,
                 "state_message": "Waiting for cluster." if life == "PENDING" else "In run"}
    return {"run_id": run_id, "run_name": name, "idempotency_token": token, "state": state,
            "start_time": int(submitted * 1000), "end_time": int(end_time * 1000)}


class _Runs:
    """The run table: one SQLite connection shared by the handler threads, under a lock."""

    def __init__(self, path: Path, pending_seconds: float, run_seconds: float) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30,
                                   isolation_level=None)
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()
        self.pending_seconds, self.run_seconds = pending_seconds, run_seconds

    def _row(self, run_id: int) -> tuple[Any, ...]:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM runs WHERE run_id = ?",
                               (run_id,)).fetchone()
        if row is None:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Run {run_id} does not exist.")
        return tuple(row)

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        name, token = body.get("run_name"), body.get("idempotency_token")
        duration, fail = body.get("duration_seconds", self.run_seconds), body.get("fail", False)
        if not isinstance(name, str) or not name:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "run_name is required.")
        if token is not None and (not isinstance(token, str) or len(token) > 64):
            raise ApiError(400, "INVALID_PARAMETER_VALUE",
                           "idempotency_token must be a string of at most 64 characters.")
        if isinstance(duration, bool) or not isinstance(duration, (int, float)) or duration < 0:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "duration_seconds must be >= 0.")
        with self._lock:
            if token is not None:
                found = self._db.execute("SELECT run_id FROM runs WHERE idempotency_token = ?",
                                         (token,)).fetchone()
                if found is not None:
                    return {"run_id": found[0]}
            cur = self._db.execute(
                "INSERT INTO runs (run_name, idempotency_token, submitted_at, pending_seconds,"
                " run_seconds, fail) VALUES (?, ?, ?, ?, ?, ?)",
                (name, token, time.time(), self.pending_seconds, float(duration), bool(fail)))
            return {"run_id": cur.lastrowid}

    def get(self, run_id: int) -> dict[str, Any]:
        with self._lock:
            return run_view(self._row(run_id), time.time())

    def cancel(self, run_id: int) -> dict[str, Any]:
        with self._lock:
            now = time.time()
            if run_view(self._row(run_id), now)["state"]["life_cycle_state"] != "TERMINATED":
                self._db.execute("UPDATE runs SET canceled_at = ? WHERE run_id = ?",
                                 (now, run_id))
            return {}

    def list(self, run_name: str | None) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY run_id DESC")
            now = time.time()
            runs = [run_view(tuple(r), now) for r in rows if run_name in (None, r[1])]
        return {"runs": runs, "has_more": False}


def _run_id(value: Any) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, "INVALID_PARAMETER_VALUE", "run_id must be an integer.") from None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            self._reply(200, self._route(method))
        except ApiError as err:
            self._reply(err.status, {"error_code": err.code, "message": err.message})
        except Exception as exc:  # a bug here must not kill the thread silently
            self._reply(500, {"error_code": "INTERNAL_ERROR", "message": repr(exc)})

    def _route(self, method: str) -> dict[str, Any]:
        token = self.server.token
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            raise ApiError(401, "UNAUTHENTICATED", "A valid bearer token is required.")
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        runs, endpoint = self.server.runs, (method, url.path)
        if endpoint == ("GET", _API + "get"):
            return runs.get(_run_id(query.get("run_id")))
        if endpoint == ("GET", _API + "list"):
            return runs.list(query.get("run_name"))
        if endpoint == ("POST", _API + "submit"):
            return runs.submit(self._body())
        if endpoint == ("POST", _API + "cancel"):
            return runs.cancel(_run_id(self._body().get("run_id")))
        raise ApiError(404, "ENDPOINT_NOT_FOUND", f"No API found for '{method} {url.path}'.")

    def _body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(400, "MALFORMED_REQUEST", "The body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "MALFORMED_REQUEST", "The body must be a JSON object.")
        return body

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, runs: _Runs, token: str | None, verbose: bool) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.runs, self.token, self.verbose = runs, token, verbose


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT (``python -m resumable.demo jobserver --help``)."""
    parser = argparse.ArgumentParser(prog="python -m resumable.demo jobserver",
                                     description="A Databricks-Jobs-API-shaped job server.")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--state", type=Path, required=True, help="SQLite file of runs")
    parser.add_argument("--pending-seconds", type=float, default=0.5)
    parser.add_argument("--run-seconds", type=float, default=3.0)
    parser.add_argument("--token", help="require 'Authorization: Bearer TOKEN'")
    parser.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = parser.parse_args(argv)
    runs = _Runs(args.state, args.pending_seconds, args.run_seconds)
    server = _Server(args.port, runs, args.token, args.verbose)

    def stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"LISTENING http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
    return 0


class JobServer:
    """Run the job server as a real subprocess in its own process group.

    ``with JobServer(run_seconds=2) as server: httpx.post(server.url + ...)``. The state
    file defaults to a fresh temporary file, removed when the ``with`` block ends.
    """

    def __init__(self, *, state_path: Path | None = None, pending_seconds: float = 0.5,
                 run_seconds: float = 3.0, token: str | None = None,
                 startup_timeout: float = 30.0) -> None:
        self._own_state = state_path is None
        if state_path is None:
            fd, name = tempfile.mkstemp(prefix="jobserver-", suffix=".db")
            os.close(fd)
            state_path = Path(name)
        self.state_path = Path(state_path)
        self.pending_seconds, self.run_seconds, self.token = pending_seconds, run_seconds, token
        self.startup_timeout = startup_timeout
        self.url, self.port = "", 0
        self._proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int | None:
        """The server process's ID while it runs."""
        return self._proc.pid if self._proc is not None else None

    def start(self, port: int = 0) -> JobServer:
        """Start the server (on ``port``; 0 = a free one) and wait for it to listen."""
        if self._proc is not None:
            raise RuntimeError("job server already running")
        argv = [sys.executable, "-m", "resumable.demo", "jobserver", "--port", str(port),
                "--state", str(self.state_path), "--pending-seconds", str(self.pending_seconds),
                "--run-seconds", str(self.run_seconds)]
        if self.token is not None:
            argv += ["--token", self.token]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                                start_new_session=True)
        self._proc = proc
        assert proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        line = ""
        while not line.startswith("LISTENING "):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                self.stop()
                raise RuntimeError(f"job server not listening after {self.startup_timeout} s")
            line = proc.stdout.readline()
            if not line:
                code = proc.wait()
                self._proc = None
                proc.stdout.close()
                raise RuntimeError(f"job server exited with code {code} before listening")
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        """SIGTERM the server's process group; SIGKILL it if still alive after 5 s."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()

    def restart(self) -> None:
        """Stop and start again on the same state file; tries to keep the same port.

        If that port cannot be bound again, a free one is taken and :attr:`url` changes.
        """
        port = self.port
        self.stop()
        try:
            self.start(port)
        except RuntimeError:
            self.start(0)

    def submissions(self) -> list[dict[str, Any]]:
        """Every run ever submitted, oldest first, in the runs/get shape (read from SQLite,
        so it works while the server is stopped)."""
        with contextlib.closing(sqlite3.connect(self.state_path, timeout=30)) as db:
            db.execute(_SCHEMA)
            rows = db.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY run_id").fetchall()
        now = time.time()
        return [run_view(tuple(row), now) for row in rows]

    def __enter__(self) -> JobServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
        if self._own_state:
            self.state_path.unlink(missing_ok=True)

"""A real, throwaway Spark standalone cluster (one Master, one Worker) for tests.

:class:`SparkCluster` starts the daemons of the installed ``pyspark`` package with its
``bin/spark-class`` (the pip package has no ``sbin/start-*.sh``), all on ``127.0.0.1``
and free ports, with the Master's REST submission server enabled::

    with SparkCluster() as cluster:
        httpx.get(f"{cluster.rest_url}/v1/submissions/readyz")
        cluster.master_state()["workers"]        # the web UI's /json/ listing

Each daemon runs in its own session (process group). Drivers and their Python
children are started by the Worker and stay in its process group, even when a killed
driver JVM leaves its Python child behind; :meth:`SparkCluster.close` kills every group
(and the groups of any descendant that made its own) and deletes the temporary
directory that holds the logs, the configuration and the Worker's work directory.

This module does not import pytest; see :func:`tests.support.require_or_skip` for
skipping when :func:`find_spark_class` returns None.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import ManagedServer, child_pids, pid_alive

__all__ = ["SparkCluster", "find_java", "find_spark_class"]

_HOST = "127.0.0.1"
_MASTER_CLASS = "org.apache.spark.deploy.master.Master"
_WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def find_java() -> Path | None:
    """The ``java`` executable: ``$JAVA_HOME/bin/java`` if set and present, else ``$PATH``."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("java")
    return Path(found) if found else None


def find_spark_class() -> Path | None:
    """``pyspark/bin/spark-class`` of the installed pyspark, or None.

    None when pyspark is not installed, its ``spark-class`` is missing, or no ``java``
    can be found (Spark cannot run without it).
    """
    try:
        spec = importlib.util.find_spec("pyspark")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    spark_class = Path(spec.origin).parent / "bin" / "spark-class"
    if not spark_class.is_file() or find_java() is None:
        return None
    return spark_class


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _descendants(pid: int) -> list[int]:
    """Every live descendant of *pid* (children first, then theirs)."""
    found: list[int] = []
    queue = [pid]
    while queue:
        for child in child_pids(queue.pop()):
            if child not in found:
                found.append(child)
                queue.append(child)
    return found


def _kill_pgid(pgid: int) -> None:
    """SIGKILL process group *pgid*, unless it is the caller's own group."""
    if pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclasses.dataclass
class _Instance:
    """What is needed to stop the daemons and delete the directory, without the cluster.

    Kept apart from :class:`SparkCluster` so a :func:`weakref.finalize` can tear the
    cluster down when the test process exits without calling ``close()``.
    """

    root: Path
    procs: list[subprocess.Popen[bytes]] = dataclasses.field(default_factory=list)

    def log_tail(self, lines: int = 30) -> str:
        """The last *lines* lines of every daemon log, labelled with their paths."""
        parts: list[str] = []
        for log in sorted(self.root.glob("*.log")):
            try:
                text = log.read_text(errors="replace")
            except OSError as exc:
                parts.append(f"(cannot read {log}: {exc})")
                continue
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"--- last {lines} lines of {log} ---\n{tail}")
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGKILL every daemon's process group and those of their descendants; reap."""
        pids: list[int] = []
        for proc in self.procs:
            if proc.poll() is None:
                pids.append(proc.pid)
                pids.extend(_descendants(proc.pid))
        groups: set[int] = set()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                groups.add(os.getpgid(pid))
        # Each daemon leads its own session; its group outlives it while a member lives.
        groups.update(proc.pid for proc in self.procs)
        for pgid in groups:
            _kill_pgid(pgid)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.procs.clear()

    def teardown(self) -> None:
        """Stop the daemons and delete the temporary directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class SparkCluster(ManagedServer):
    """A Spark standalone Master (REST submission server on) and one Worker on 127.0.0.1.

    Nothing happens until :meth:`start` (or entering the ``with`` block), which returns
    once ``GET /v1/submissions/readyz`` answers and the Master's ``/json/`` lists one
    ALIVE worker. :meth:`close` kills everything and deletes the temporary directory; it
    also runs when the object is garbage collected or the interpreter exits.

    Args:
        spark_class: Path of ``spark-class``; default :func:`find_spark_class`.
        worker_cores: Cores the Worker offers (bookkeeping only; a driver and its
            executor take one each).
        worker_memory: Memory the Worker offers, e.g. ``"2g"`` (bookkeeping only).
        startup_timeout: Seconds to wait for the cluster to come up.
    """

    def __init__(self, *, spark_class: Path | None = None, worker_cores: int = 4,
                 worker_memory: str = "3g", startup_timeout: float = 120.0) -> None:
        self._spark_class = spark_class
        self._worker_cores = worker_cores
        self._worker_memory = worker_memory
        self._startup_timeout = startup_timeout
        self._instance: _Instance | None = None
        self._finalizer: weakref.finalize[[_Instance], SparkCluster] | None = None
        self._ports: dict[str, int] = {}
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Start the Master and the Worker and wait until both are ready.

        Raises:
            RuntimeError: pyspark or java is missing, a daemon exited, or the cluster
                was not ready within ``startup_timeout`` (the message quotes the logs).
        """
        self._check_open()
        if self._instance is not None:
            return
        spark_class = self._spark_class or find_spark_class()
        if spark_class is None:
            raise RuntimeError("pyspark (with bin/spark-class) or java not found")
        root = Path(tempfile.mkdtemp(prefix="resumable-spark-"))
        instance = _Instance(root=root)
        finalizer = weakref.finalize(self, _Instance.teardown, instance)
        try:
            self._ports = {name: _free_port() for name in
                           ("master", "web", "rest", "worker", "worker_web")}
            self._launch(instance, spark_class)
            self._instance = instance
            self._finalizer = finalizer
            self._wait_ready(instance)
        except BaseException:
            self._instance = None
            self._finalizer = None
            finalizer()
            raise

    # -- addresses ---------------------------------------------------------------

    def _port(self, name: str) -> int:
        if self._instance is None:
            raise RuntimeError("SparkCluster has not been started")
        return self._ports[name]

    @property
    def master_url(self) -> str:
        """``spark://127.0.0.1:PORT``: what drivers and the Worker connect to."""
        return f"spark://{_HOST}:{self._port('master')}"

    @property
    def rest_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the REST submission server (``/v1/submissions``)."""
        return f"http://{_HOST}:{self._port('rest')}"

    @property
    def web_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the Master's web UI (``/json/`` lists its state)."""
        return f"http://{_HOST}:{self._port('web')}"

    @property
    def root(self) -> Path:
        """The temporary directory holding logs, configuration and the work directory."""
        if self._instance is None:
            raise RuntimeError("SparkCluster has not been started")
        return self._instance.root

    def log_tail(self, lines: int = 30) -> str:
        """The end of the Master's and the Worker's logs (for failure messages)."""
        if self._instance is None:
            return "(SparkCluster not started)"
        return self._instance.log_tail(lines)

    def master_state(self) -> dict[str, Any]:
        """The Master's ``/json/`` document: workers, active/completed apps and drivers."""
        response = httpx.get(f"{self.web_url}/json/", timeout=10)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    # -- internals ---------------------------------------------------------------

    def _env(self, root: Path) -> dict[str, str]:
        env = dict(os.environ)
        for key in ("SPARK_HOME", "SPARK_CONF_DIR", "SPARK_MASTER_HOST", "SPARK_MASTER_PORT",
                    "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
            env.pop(key, None)
        (root / "conf").mkdir(exist_ok=True)
        env.update({
            "SPARK_LOCAL_IP": _HOST,
            "SPARK_LOCAL_HOSTNAME": _HOST,
            "SPARK_CONF_DIR": str(root / "conf"),  # empty: no stray spark-defaults.conf
            "SPARK_LOG_DIR": str(root),
            "SPARK_LOCAL_DIRS": str(root / "local"),
            "SPARK_WORKER_DIR": str(root / "work"),
        })
        return env

    def _launch(self, instance: _Instance, spark_class: Path) -> None:
        root = instance.root
        properties = root / "spark.properties"
        properties.write_text(
            "spark.master.rest.enabled true\n"
            f"spark.master.rest.host {_HOST}\n"
            f"spark.master.rest.port {self._ports['rest']}\n"
            f"spark.local.dir {root / 'local'}\n"
        )
        env = self._env(root)
        master = [str(spark_class), _MASTER_CLASS, "--host", _HOST,
                  "--port", str(self._ports["master"]),
                  "--webui-port", str(self._ports["web"]),
                  "--properties-file", str(properties)]
        worker = [str(spark_class), _WORKER_CLASS, "--host", _HOST,
                  "--port", str(self._ports["worker"]),
                  "--webui-port", str(self._ports["worker_web"]),
                  "--cores", str(self._worker_cores), "--memory", self._worker_memory,
                  "--work-dir", str(root / "work"),
                  "--properties-file", str(properties),
                  f"spark://{_HOST}:{self._ports['master']}"]
        for name, argv in (("master", master), ("worker", worker)):
            with (root / f"{name}.log").open("ab") as log:
                instance.procs.append(subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    cwd=root, env=env, start_new_session=True))

    def _wait_ready(self, instance: _Instance) -> None:
        deadline = time.monotonic() + self._startup_timeout
        problem = "not started"
        while time.monotonic() < deadline:
            for proc, name in zip(instance.procs, ("Master", "Worker"), strict=True):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"Spark {name} exited with {proc.returncode}\n{instance.log_tail()}")
            try:
                ready = httpx.get(f"{self.rest_url}/v1/submissions/readyz", timeout=5)
                if ready.status_code != 200:
                    problem = f"readyz answered {ready.status_code}"
                else:
                    alive = [w for w in self.master_state().get("workers", [])
                             if w.get("state") == "ALIVE"]
                    if len(alive) == 1:
                        return
                    problem = f"{len(alive)} ALIVE workers"
            except httpx.HTTPError as exc:
                problem = repr(exc)
            time.sleep(0.25)
        raise RuntimeError(f"Spark cluster not ready after {self._startup_timeout:.0f} s "
                           f"({problem})\n{instance.log_tail()}")

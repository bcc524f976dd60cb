"""A real, throwaway PostgreSQL server for tests and benchmarks.

:class:`PostgresServer` runs ``initdb`` in a fresh temporary directory and starts
``postgres`` on a free TCP port of ``127.0.0.1`` with trust authentication, so
tests can connect as user ``postgres`` without a password::

    with PostgresServer() as server:
        engine = sqlalchemy.create_engine(server.create_database("t1"))
        ...
        server.stop()   # simulate an outage
        server.start()  # same data, same port, same URLs

``initdb`` refuses to run as root. When the current process is root, the
temporary directory is handed to the ``postgres`` system user and every
PostgreSQL command runs through ``runuser -u postgres --``.

All output of ``initdb``, ``pg_ctl`` and the server itself is appended to
``postgres.log`` in the temporary directory; failures raise :class:`RuntimeError`
quoting the end of that log.

This module does not import pytest (benchmarks use it too); see
:func:`tests.support.require_or_skip` for skipping when PostgreSQL is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from tests.support.processes import ManagedServer, child_pids, kill_group, pid_alive

__all__ = ["PostgresServer", "find_pg_bindir"]

_BINARIES = ("initdb", "pg_ctl", "postgres")
_SYSTEM_USER = "postgres"
_DB_USER = "postgres"
_HOST = "127.0.0.1"
_COMMAND_TIMEOUT = 120.0  # seconds; pg_ctl's own -w timeout is 60 s
_PORT_ATTEMPTS = 3


def _is_pg_bindir(path: Path) -> bool:
    """Return True if *path* holds executable ``initdb``, ``pg_ctl`` and ``postgres``."""
    return all((path / name).is_file() and os.access(path / name, os.X_OK) for name in _BINARIES)


def _version_key(bindir: Path) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin``: ``9.6`` < ``15`` < ``16``."""
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_pg_bindir() -> Path | None:
    """Find the directory holding PostgreSQL's ``initdb``, ``pg_ctl`` and ``postgres``.

    Looked up in this order:

    1. ``$RESUMABLE_PG_BINDIR`` if set. It is authoritative: if it does not hold
       the binaries the result is None (handy to test the "missing" path).
    2. The newest ``/usr/lib/postgresql/<version>/bin`` (Debian/Ubuntu layout).
    3. The directory of ``pg_ctl`` on ``$PATH``.

    Returns None when no usable directory is found.
    """
    override = os.environ.get("RESUMABLE_PG_BINDIR")
    if override:
        path = Path(override)
        return path if _is_pg_bindir(path) else None
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key)
    for bindir in reversed(candidates):
        if _is_pg_bindir(bindir):
            return bindir
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is not None:
        bindir = Path(pg_ctl).resolve().parent
        if _is_pg_bindir(bindir):
            return bindir
    return None


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _temp_parent(as_postgres: bool) -> str | None:
    """Where to create the temporary directory.

    The default temp dir, unless we run as root and the ``postgres`` user could
    not reach it (some ancestor lacks the "others may traverse" bit): then ``/tmp``.
    """
    if not as_postgres:
        return None
    default = Path(tempfile.gettempdir()).resolve()
    for directory in (default, *default.parents):
        if not directory.stat().st_mode & stat.S_IXOTH:
            return "/tmp"
    return None


@dataclasses.dataclass
class _Instance:
    """Everything needed to stop and delete a server, without a reference to it.

    Kept apart from :class:`PostgresServer` so a :func:`weakref.finalize` can tear
    the server down when the test process exits without calling ``close()``.
    """

    bindir: Path
    root: Path
    as_postgres: bool

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def run(self, tool: str, *args: str) -> None:
        """Run a PostgreSQL tool, appending its output to the log; raise on failure."""
        argv = [str(self.bindir / tool), *args]
        if self.as_postgres:
            argv = ["runuser", "-u", _SYSTEM_USER, "--", *argv]
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {shlex.join(argv)}\n".encode())
            log.flush()
            try:
                result = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.root,
                    env=env,
                    start_new_session=True,
                    timeout=_COMMAND_TIMEOUT,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise RuntimeError(
                    f"{tool} timed out after {_COMMAND_TIMEOUT:.0f} s\n{self.log_tail()}"
                ) from None
        if result.returncode != 0:
            raise RuntimeError(f"{tool} exited with {result.returncode}\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """Return the last *lines* lines of the log, labelled with its path."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log at {self.log_path}: {exc})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"

    def postmaster_pid(self) -> int | None:
        """The live postmaster's pid from ``postmaster.pid``, or None if not running."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line)
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def stop(self) -> None:
        """Stop the server if it runs: ``pg_ctl -m fast``, else kill it outright."""
        if self.postmaster_pid() is None:
            return
        with contextlib.suppress(RuntimeError):  # checked below, whatever pg_ctl says
            self.run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-t", "30", "-w", "stop")
        pid = self.postmaster_pid()
        if pid is None:
            return
        # pg_ctl failed: kill the postmaster's group and its children (every backend
        # makes itself a process-group leader, so killing one group is not enough).
        children = child_pids(pid)
        kill_group(pid)
        for child in children:
            kill_group(child)
        deadline = time.monotonic() + 10
        while any(pid_alive(p) for p in (pid, *children)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"postmaster {pid} survived SIGKILL\n{self.log_tail()}")
            time.sleep(0.05)
        # A killed postmaster leaves its lock files behind. PostgreSQL ignores stale
        # ones only if their pid is gone, and under an init that reaps lazily the
        # dead postmaster lingers as a zombie, so a restart would refuse to run.
        for lock in (self.data_dir / "postmaster.pid", *self.root.glob(".s.PGSQL.*")):
            lock.unlink(missing_ok=True)

    def teardown(self) -> None:
        """Stop the server and delete the temporary directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class PostgresServer(ManagedServer):
    """A throwaway PostgreSQL server on ``127.0.0.1``, for tests and benchmarks.

    Nothing happens until :meth:`start` (or entering the ``with`` block). The
    first start creates the cluster in a new temporary directory and picks a free
    port; later starts (after :meth:`stop`) reuse that data directory and port, so
    URLs handed out earlier keep working. :meth:`close` stops the server and
    deletes the directory; it also runs when the object is garbage collected or
    the interpreter exits, so a failing test does not leak a server.

    Args:
        fsync: Keep PostgreSQL's fsync on. Off (``-F``) by default, which is fine
            for functional tests and much faster; benchmarks must pass ``True``.
        bindir: Directory holding ``initdb``/``pg_ctl``/``postgres``; default
            :func:`find_pg_bindir`.
    """

    def __init__(self, *, fsync: bool = False, bindir: Path | None = None) -> None:
        self._fsync = fsync
        self._bindir = bindir
        self._instance: _Instance | None = None
        self._finalizer: weakref.finalize[[_Instance], PostgresServer] | None = None
        self._port: int | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Start the server (creating the cluster on first use). Idempotent.

        Raises:
            RuntimeError: PostgreSQL is not installed, the ``postgres`` user is
                missing while running as root, or a command failed (the message
                includes the end of the log).
        """
        self._check_open()
        instance = self._instance or self._create_cluster()
        if instance.postmaster_pid() is not None:
            return
        if self._port is not None:
            self._start_on(instance, self._port)
            return
        for attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            log_size = instance.log_path.stat().st_size
            try:
                self._start_on(instance, port)
            except RuntimeError:
                # Another process may have grabbed the port between probe and bind.
                with instance.log_path.open("rb") as log:
                    log.seek(log_size)
                    new_output = log.read().decode(errors="replace")
                if attempt + 1 < _PORT_ATTEMPTS and "could not bind" in new_output:
                    continue
                raise
            self._port = port
            return

    def stop(self) -> None:
        """Stop the server (``pg_ctl -m fast -w stop``), keeping its data. Idempotent.

        If ``pg_ctl`` fails, the postmaster and its children are killed.
        """
        if self._instance is not None:
            self._instance.stop()

    # -- addresses ---------------------------------------------------------------

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1; fixed at the first :meth:`start`."""
        if self._port is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._port

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database (psycopg 3 driver)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of database *name* on this server."""
        return f"postgresql+psycopg://{_DB_USER}@{_HOST}:{self.port}/{name}"

    def conninfo(self, name: str = "postgres") -> str:
        """libpq URI of database *name*, for ``psycopg.connect`` and ``psql``."""
        return f"postgresql://{_DB_USER}@{_HOST}:{self.port}/{name}"

    @property
    def log_path(self) -> Path:
        """The file collecting initdb, pg_ctl and server output."""
        if self._instance is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._instance.log_path

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Freeze the server (SIGSTOP to the postmaster and every backend) for the block.

        The sockets stay open and the kernel still accepts connections, but nothing
        answers: what a hung host or a stuck storage layer looks like to a client.
        """
        if self._instance is None or (pid := self._instance.postmaster_pid()) is None:
            raise RuntimeError("PostgresServer is not running")
        pids = [pid, *child_pids(pid)]
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            yield
        finally:
            for p in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGCONT)

    def create_database(self, name: str) -> str:
        """Create a fresh, empty database *name* and return its SQLAlchemy URL.

        Raises ``psycopg.errors.DuplicateDatabase`` if it already exists.
        """
        with psycopg.connect(self.conninfo(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    # -- internals ---------------------------------------------------------------

    def _create_cluster(self) -> _Instance:
        """Make the temporary directory and run initdb in it."""
        bindir = self._bindir or find_pg_bindir()
        if bindir is None:
            raise RuntimeError(
                "PostgreSQL binaries not found (set RESUMABLE_PG_BINDIR or install postgresql)"
            )
        as_postgres = os.geteuid() == 0
        if as_postgres:
            try:
                account = pwd.getpwnam(_SYSTEM_USER)
            except KeyError:
                raise RuntimeError(
                    "running as root needs the 'postgres' system user (initdb refuses root)"
                ) from None
        root = Path(tempfile.mkdtemp(prefix="resumable-pg-", dir=_temp_parent(as_postgres)))
        instance = _Instance(bindir=bindir, root=root, as_postgres=as_postgres)
        finalizer = weakref.finalize(self, _Instance.teardown, instance)
        try:
            instance.log_path.touch()
            if as_postgres:
                for path in (root, instance.log_path):
                    os.chown(path, account.pw_uid, account.pw_gid)
            instance.run(
                "initdb",
                "-D", str(instance.data_dir),
                "-A", "trust",
                "-U", _DB_USER,
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            )  # fmt: skip
        except BaseException:
            finalizer()  # the error message already quotes the log
            raise
        self._instance = instance
        self._finalizer = finalizer
        return instance

    def _start_on(self, instance: _Instance, port: int) -> None:
        """Run ``pg_ctl start`` for *instance* listening on *port*."""
        options = [
            "-k", str(instance.root),
            "-p", str(port),
            "-h", _HOST,
            "-c", "max_connections=100",
        ]  # fmt: skip
        if not self._fsync:
            options.append("-F")
        try:
            instance.run(
                "pg_ctl",
                "-D", str(instance.data_dir),
                "-l", str(instance.log_path),
                "-o", shlex.join(options),
                "-t", "60",
                "-w",
                "start",
            )  # fmt: skip
        except RuntimeError:
            instance.stop()  # never leave a half-started postmaster behind
            raise

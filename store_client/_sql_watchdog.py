"""A per-process watchdog that breaks a database connection stuck past its deadline.

How it works: before an operation uses a pooled PostgreSQL connection, the SQL backend
*arms* a ticket with the connection's socket and a deadline; when the connection goes
back to the pool it *disarms* it. A daemon thread wakes every ``period`` seconds and,
for each ticket past its deadline, shuts the socket down (``shutdown(SHUT_RDWR)`` on a
duplicate of its descriptor). The blocked call then fails at once with a connection
error, which the backend translates to ``StoreUnavailableError`` and retries. Arming and
disarming take one lock each; the thread starts on first use and again in a forked
child (threads do not survive ``fork``).

This is what bounds a call to a server that stopped answering (frozen, or behind a
dead network path): the server-side ``statement_timeout`` and ``lock_timeout`` cannot
fire there, and libpq has no client-side read timeout. Tickets and the socket shutdown
happen under one lock, so once ``disarm`` returns the watchdog never touches that
descriptor again (it may by then belong to another socket).

What it does not do: cancel the statement on the server (a frozen server cannot be
asked); precision is ``period`` seconds.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
from typing import Final

__all__ = ["WATCHDOG", "Watchdog"]

_log = logging.getLogger("store_client")


def _break(fd: int) -> None:
    """Shut a socket down for reading and writing; the owner's blocked call then fails."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return  # already closed
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()  # closes our duplicate only


class Watchdog:
    """Deadlines for sockets in use; sockets past theirs are shut down by a daemon thread."""

    def __init__(self, period: float = 0.1) -> None:
        self.period = period
        self._lock = threading.Lock()
        self._armed: dict[int, tuple[float, int]] = {}
        self._tickets = itertools.count(1)
        self._pid = 0
        self.fired = 0  # how many sockets were broken (for tests and logs)

    def arm(self, fd: int, seconds: float) -> int:
        """Watch ``fd`` for ``seconds``; returns the ticket to :meth:`disarm`."""
        ticket = next(self._tickets)
        with self._lock:
            self._armed[ticket] = (time.monotonic() + seconds, fd)
            if self._pid != os.getpid():
                self._start()
        return ticket

    def disarm(self, ticket: int) -> None:
        """Stop watching; after this returns the descriptor is never touched."""
        with self._lock:
            self._armed.pop(ticket, None)

    def after_fork_in_child(self) -> None:
        """Forget the parent's tickets and lock; the thread restarts on the next arm."""
        self._lock = threading.Lock()
        self._armed = {}
        self._pid = 0

    def _start(self) -> None:
        self._pid = os.getpid()
        thread = threading.Thread(target=self._run, args=(self._pid,),
                                  name="store_client-watchdog", daemon=True)
        thread.start()

    def _run(self, pid: int) -> None:
        while self._pid == pid:
            time.sleep(self.period)
            now = time.monotonic()
            with self._lock:
                late = [t for t, (deadline, _) in self._armed.items() if deadline <= now]
                for ticket in late:
                    _, fd = self._armed.pop(ticket)
                    _log.warning("store call exceeded its deadline: breaking its connection")
                    _break(fd)
                    self.fired += 1


#: The process's watchdog, shared by every SQL backend.
WATCHDOG: Final = Watchdog()

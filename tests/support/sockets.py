"""Which TCP ports a group of processes listens on, read from Linux ``/proc``.

How it works: :func:`listening_sockets` takes some PIDs, adds all their descendants (one
pass over ``/proc/<pid>/stat`` for the parent links), and collects the socket inodes
each process holds (``/proc/<pid>/fd/*`` links read ``socket:[INODE]``). It then reads
the TCP tables of each process's network namespace (``/proc/<pid>/net/tcp`` and
``tcp6``, read once per namespace), keeps the rows in state ``0A`` (LISTEN) and matches
them to the inodes, decoding the kernel's hex addresses (each 32-bit word in host byte
order) into :mod:`ipaddress` objects. :attr:`ListeningSocket.loopback` says whether a
socket is reachable from this machine only (127.0.0.0/8, ``::1``, or ``::ffff:127.x``).

Standard library only; ``proc`` may point at a fake tree for tests.

What it does not do: UDP or Unix sockets; processes of other users (their ``fd``
folders cannot be read: they are skipped, not reported); processes that exit or start
while it reads (a snapshot, not a monitor). Linux only (returns nothing elsewhere).
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ListeningSocket", "descendants", "listening_sockets"]

PROC = Path("/proc")
_LISTEN = "0A"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ListeningSocket:
    """A listening TCP socket: who holds it, and where it listens."""

    pid: int
    address: IPAddress
    port: int
    inode: int

    @property
    def loopback(self) -> bool:
        """True if only this machine can connect (127.0.0.0/8, ``::1``, mapped 127.x)."""
        address = self.address
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_loopback

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{host}:{self.port} (pid {self.pid})"


def descendants(pids: Iterable[int], proc: Path = PROC) -> set[int]:
    """``pids`` and every process descended from one of them (that is still running)."""
    children: dict[int, list[int]] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:  # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def _socket_inodes(pid: int, proc: Path) -> set[int]:
    inodes = set()
    try:
        entries = list((proc / str(pid) / "fd").iterdir())
    except OSError:  # gone, or another user's
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def _address(hex_address: str) -> IPAddress:
    """The kernel's ``%08X`` words (host byte order each) as an IP address."""
    packed = b"".join(int(hex_address[i:i + 8], 16).to_bytes(4, sys.byteorder)
                      for i in range(0, len(hex_address), 8))
    return ipaddress.ip_address(packed)


def _listening(table: str) -> dict[int, tuple[IPAddress, int]]:
    """The LISTEN rows of a ``/proc/net/tcp``-style table: inode -> (address, port)."""
    found = {}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        address, _, port = fields[1].partition(":")
        found[int(fields[9])] = (_address(address), int(port, 16))
    return found


def _namespace(pid: int, proc: Path) -> str:
    try:
        return os.readlink(proc / str(pid) / "ns" / "net")
    except OSError:
        return f"pid {pid}"  # unreadable: read this process's own view of the tables


def _tables(pid: int, proc: Path) -> dict[int, tuple[IPAddress, int]]:
    found: dict[int, tuple[IPAddress, int]] = {}
    for name in ("tcp", "tcp6"):
        try:
            found.update(_listening((proc / str(pid) / "net" / name).read_text()))
        except OSError:  # no IPv6, or the process is gone
            continue
    return found


def listening_sockets(pids: Iterable[int], proc: Path = PROC) -> list[ListeningSocket]:
    """The listening TCP sockets held by ``pids`` or their descendants, sorted."""
    found = []
    by_namespace: dict[str, dict[int, tuple[IPAddress, int]]] = {}
    for pid in sorted(descendants(pids, proc)):
        inodes = _socket_inodes(pid, proc)
        if not inodes:
            continue
        namespace = _namespace(pid, proc)
        if namespace not in by_namespace:
            by_namespace[namespace] = _tables(pid, proc)
        table = by_namespace[namespace]
        found.extend(ListeningSocket(pid, *table[inode], inode)
                     for inode in inodes if inode in table)
    return sorted(found, key=lambda s: (s.pid, s.address.version, s.address, s.port))

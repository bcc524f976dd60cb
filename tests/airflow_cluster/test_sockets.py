"""``tests.support.sockets``: finding the listening sockets of a process tree.

How it works: a real child process starts a grandchild that listens on 127.0.0.1 (and,
where the machine has IPv6, one on ``::1``); asking for the child's tree finds the
grandchild's sockets in the real ``/proc``. Sockets on every interface are checked in a
fake ``/proc`` tree rather than opened for real: no test here opens a port beyond
loopback, even for a moment.

What it does not do: start Airflow (it needs no fixture of this package).
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.sockets import ListeningSocket, descendants, listening_sockets

# A child that starts a grandchild listening on HOST; the grandchild prints its PID and
# port, then both wait until their stdin closes.
TREE = textwrap.dedent("""
    import os, socket, subprocess, sys
    if sys.argv[1] == "child":
        grandchild = subprocess.Popen([sys.executable, "-c", sys.argv[2], "grandchild",
                                       *sys.argv[3:]], stdin=sys.stdin)
        grandchild.wait()
    else:
        family = socket.AF_INET6 if ":" in sys.argv[2] else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((sys.argv[2], 0))
            sock.listen()
            print(os.getpid(), sock.getsockname()[1], flush=True)
            sys.stdin.read()
""")


@pytest.fixture
def listening_tree(request: pytest.FixtureRequest) -> Iterator[tuple[int, int, int]]:
    """(child PID, grandchild PID, port) of a tree listening on ``request.param``."""
    proc = subprocess.Popen([sys.executable, "-c", TREE, "child", TREE, request.param],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        pid, port = (int(word) for word in proc.stdout.readline().split())
        yield proc.pid, pid, port
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the grandchild shares it: both exit
        proc.wait(timeout=30)


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize("listening_tree", [
    "127.0.0.1",
    pytest.param("::1", marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no ::1")),
], indirect=True)
def test_a_grandchilds_loopback_socket_is_found_through_its_ancestor(
        listening_tree: tuple[int, int, int]) -> None:
    child, grandchild, port = listening_tree
    assert grandchild in descendants([child])
    found = listening_sockets([child])
    assert [(s.pid, s.port, s.loopback) for s in found] == [(grandchild, port, True)]
    assert str(found[0].address) in ("127.0.0.1", "::1")


def test_a_process_tree_without_listeners_reports_nothing() -> None:
    with subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                          stdin=subprocess.PIPE) as idle:
        assert listening_sockets([idle.pid]) == []
        assert idle.stdin is not None
        idle.stdin.close()


# -- a fake /proc: sockets on every interface, without opening one -----------------------

def kernel_hex(address: str) -> str:
    """``address`` as /proc/net/tcp* prints it: 32-bit words, each in host byte order."""
    packed = ipaddress.ip_address(address).packed
    return "".join(f"{int.from_bytes(packed[i:i + 4], sys.byteorder):08X}"
                   for i in range(0, len(packed), 4))


def table_line(address: str, port: int, state: str, inode: int) -> str:
    return (f"   0: {kernel_hex(address)}:{port:04X} {kernel_hex(address)}:0000 {state} "
            f"00000000:00000000 00:00000000 00000000  1000        0 {inode} 1 0 100 0 0 10 0")


def fake_process(proc: Path, pid: int, ppid: int, sockets: dict[int, int]) -> None:
    """``/proc/<pid>``: stat, ``fd/N -> socket:[INODE]``, the network namespace link."""
    folder = proc / str(pid)
    (folder / "fd").mkdir(parents=True)
    (folder / "ns").mkdir()
    (folder / "stat").write_text(f"{pid} (odd (name) here) S {ppid} {pid} {pid} 0\n")
    for fd, inode in sockets.items():
        (folder / "fd" / str(fd)).symlink_to(f"socket:[{inode}]")
    (folder / "fd" / "0").symlink_to("/dev/null")
    (folder / "ns" / "net").symlink_to("net:[4026531840]")


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    """A scheduler (100) with a log server child (101), and an unrelated sshd (200)."""
    proc = tmp_path / "proc"
    fake_process(proc, 100, 1, {3: 11, 4: 16})
    fake_process(proc, 101, 100, {3: 12, 4: 13, 5: 14, 6: 17})
    fake_process(proc, 200, 1, {3: 15})
    tcp = ["  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid",
           table_line("127.0.0.1", 38779, "0A", 11),
           table_line("0.0.0.0", 8793, "0A", 12),
           table_line("10.0.0.5", 40000, "01", 14),  # an established connection
           table_line("0.0.0.0", 22, "0A", 15)]       # another process's
    tcp6 = ["  sl  local_address                         remote_address        st",
            table_line("::", 8793, "0A", 13),
            table_line("::ffff:127.0.0.1", 9000, "0A", 16),
            table_line("::1", 9001, "0A", 17)]
    for pid in (100, 101, 200):
        (proc / str(pid) / "net").mkdir()
        (proc / str(pid) / "net" / "tcp").write_text("\n".join(tcp) + "\n")
        (proc / str(pid) / "net" / "tcp6").write_text("\n".join(tcp6) + "\n")
    return proc


def test_sockets_on_every_interface_are_reported_as_such(fake_proc: Path) -> None:
    found = listening_sockets([100], proc=fake_proc)
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")  # printed ::ffff:7f00:1 before 3.13
    assert [(s.pid, str(s), s.loopback) for s in found] == [
        (100, "127.0.0.1:38779 (pid 100)", True),
        (100, f"[{mapped}]:9000 (pid 100)", True),
        (101, "0.0.0.0:8793 (pid 101)", False),
        (101, "[::]:8793 (pid 101)", False),
        (101, "[::1]:9001 (pid 101)", True),
    ]
    assert descendants([100], proc=fake_proc) == {100, 101}
    assert [s.pid for s in listening_sockets([200], proc=fake_proc)] == [200]


@pytest.mark.skipif(sys.byteorder != "little", reason="a line as an x86 kernel prints it")
def test_a_line_as_the_kernel_prints_it_decodes() -> None:
    from tests.support.sockets import _listening

    line = ("   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 "
            "00000000   101        0 19895 4 0000000087190523 100 0 0 10 0")
    assert _listening(f"header\n{line}\n") == {19895: (ipaddress.ip_address("127.0.0.1"),
                                                       8081)}
    assert ListeningSocket(1, ipaddress.ip_address("::"), 8793, 0).loopback is False

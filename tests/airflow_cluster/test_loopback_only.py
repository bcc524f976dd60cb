"""The test cluster listens on 127.0.0.1 only: no Airflow port is open to the network.

How it works: on the package's running cluster (``conftest.setup``: api-server,
dag-processor, scheduler), wait until the scheduler and dag-processor heartbeat (a
scheduler starts its log server before its first heartbeat), then list every listening
TCP socket of the three daemons and all their descendants with
:func:`tests.support.sockets.listening_sockets` and check each is on 127.0.0.0/8 or
``::1``. Without ``--skip-serve-logs`` the scheduler's log server shows up here as
``0.0.0.0:8793`` and ``[::]:8793``.

What it does not do: catch a socket opened later (a snapshot), or look at the task
processes of a run (none is running here); UDP is not listed.
"""

from __future__ import annotations

from tests.airflow_cluster.conftest import Setup
from tests.support.sockets import listening_sockets


def test_every_socket_the_cluster_listens_on_is_loopback(setup: Setup) -> None:
    cluster = setup.cluster
    health = cluster.wait_for_daemons()
    pids = cluster.pids()
    found = listening_sockets(pids.values())
    where = f"daemons {pids}, health {health}, listening {[str(s) for s in found]}"

    exposed = [str(s) for s in found if not s.loopback]
    assert exposed == [], f"listening beyond loopback: {exposed}; {where}"
    api = [s for s in found if s.port == cluster.port]
    assert api, f"the api-server's port {cluster.port} was not found: {where}"
    assert {str(s.address) for s in api} == {"127.0.0.1"}, where

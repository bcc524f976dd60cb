"""The real Airflow cluster these tests share, started once for the whole package.

How it works: :func:`setup` starts a job server (``resumable.demo.JobServer``) and an
:class:`~tests.support.airflow_cluster.AirflowCluster` on ``dags/`` wired to it through
``RESUMABLE_KILL_*`` variables, and a notes file the DAG's task appends to. The cluster
runs a triggerer too, and a second job server (``RESUMABLE_DEFER_*``, its own notes) serves
the deferrable DAG ``dags/resumable_defer.py`` and a third the cleared DAG
``dags/resumable_clear.py``, so that the modules counting jobs each count their own
server's. Package scope: every test module here gets the same cluster, so
Airflow starts once (14-19 s).

What it does not do: reset anything between tests (DAG runs, job server records, notes
accumulate); a test that needs a clean slate filters by its own run ID.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from resumable.demo import JobServer
from tests.support import require_or_skip
from tests.support.airflow_cluster import AirflowCluster, airflow_available

DAGS = Path(__file__).parent / "dags"
# How long the job server runs the job: long enough that the retry finds it still RUNNING.
# Kill -> try 2 polling took 0.7-0.8 s on an idle 2-core machine, up to 2.5 s at load
# average 4; every extra second here is a second of wall time.
RUN_SECONDS = 5.0


@dataclass
class Setup:
    cluster: AirflowCluster
    server: JobServer
    notes: Path
    defer_server: JobServer
    defer_notes: Path
    clear_server: JobServer


@pytest.fixture(scope="package")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    if not airflow_available():
        require_or_skip("the airflow command is not installed: pip install 'resumable[airflow]'")
    notes = tmp_path_factory.mktemp("resumable-kill") / "notes.jsonl"
    defer_notes = tmp_path_factory.mktemp("resumable-defer") / "notes.jsonl"
    with JobServer(pending_seconds=0, run_seconds=RUN_SECONDS) as server, \
            JobServer(pending_seconds=0, run_seconds=RUN_SECONDS) as defer_server, \
            JobServer(pending_seconds=0, run_seconds=1.0) as clear_server, \
            AirflowCluster(DAGS, triggerer=True, extra_env={
                "RESUMABLE_KILL_SERVER_URL": server.url,
                "RESUMABLE_KILL_NOTES": str(notes),
                "RESUMABLE_KILL_RUN_SECONDS": str(RUN_SECONDS),
                "RESUMABLE_DEFER_SERVER_URL": defer_server.url,
                "RESUMABLE_DEFER_NOTES": str(defer_notes),
                "RESUMABLE_CLEAR_SERVER_URL": clear_server.url}) as cluster:
        yield Setup(cluster, server, notes, defer_server, defer_notes, clear_server)

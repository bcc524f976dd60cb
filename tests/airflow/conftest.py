"""One migrated ``AIRFLOW_HOME`` for every DAG test of the session (skips without Airflow).

Each test runs its DAGs in child processes (:class:`tests.support.airflow_env.AirflowHome`),
so this process never imports Airflow. The DAG IDs differ per DAG file and every run has
its own logical date, so the tests can share the one home (and its 4 s migration).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resumable.demo import JobServer
from tests.support.airflow_env import AirflowHome, migrated_home


@pytest.fixture(scope="session")
def airflow_home() -> Iterator[AirflowHome]:
    """A temporary ``AIRFLOW_HOME`` with a migrated SQLite metadata DB."""
    with migrated_home() as home:
        yield home


@pytest.fixture(scope="module")
def job_server() -> Iterator[JobServer]:
    """A Databricks-shaped job server process whose runs take about 2 s."""
    with JobServer(pending_seconds=0.2, run_seconds=2) as server:
        yield server

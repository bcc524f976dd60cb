"""One migrated ``AIRFLOW_HOME`` for every DAG test of the session (skips without Airflow).

Each test runs its DAGs in child processes (:class:`tests.support.airflow_env.AirflowHome`),
so this process never imports Airflow. The DAG IDs differ per DAG file and every run has
its own logical date, so the tests can share the one home (and its 4 s migration).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import require_or_skip
from tests.support.airflow_env import AirflowHome, airflow_installed


@pytest.fixture(scope="session")
def airflow_home() -> Iterator[AirflowHome]:
    """A temporary ``AIRFLOW_HOME`` with a migrated SQLite metadata DB."""
    if not airflow_installed():
        require_or_skip("apache-airflow is not installed: pip install 'resumable[airflow]'")
    home = AirflowHome()
    try:
        home.migrate()
        yield home
    finally:
        home.close()

"""The Spark standalone DAG in real Airflow against a real Spark cluster: the retry after a
crash reattaches to the running driver, so exactly one driver ran.

The first try of ``sum_range`` submits the app through the Master's REST API, stores the
driver ID, and dies while polling; the second try finds the stored ID, sees the driver
still running and waits for it. One driver costs 12-15 s of Spark overhead, so this is
the only Spark run of the DAG tests.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from examples.spark_standalone import SparkStandaloneSubmitOperator
from resumable import ResumableJobMixin, idempotency_token_for
from store_client import TaskScope
from tests.support import require_or_skip
from tests.support.airflow_env import AirflowHome, RunSpec, fail_first_try, running_try
from tests.support.spark import SparkCluster, find_spark_class

DAG_ID = "resumable_spark"
KEY = SparkStandaloneSubmitOperator.external_id_key
N = 2000


@contextlib.contextmanager
def crash_while_polling() -> Iterator[Callable[[], Any]]:
    """In the child: the first try dies polling; the retry records the state it found."""
    seen: list[str] = []

    def poll(self: SparkStandaloneSubmitOperator, external_id: Any, context: Any) -> Any:
        if running_try().try_number >= 2:
            seen.append(self.get_job_status(external_id, context))
        return ResumableJobMixin.poll_until_complete(self, external_id, context)

    with mock.patch.object(SparkStandaloneSubmitOperator, "poll_until_complete", poll), \
            fail_first_try(ResumableJobMixin, "poll_until_complete") as crashes:
        yield lambda: {"crashes": crashes, "states_seen_by_retry": seen}


@pytest.fixture(scope="module")
def cluster() -> Iterator[SparkCluster]:
    if find_spark_class() is None:
        require_or_skip("Spark needs pyspark (pip install pyspark==4.3.0) and java on PATH")
    with SparkCluster() as spark:
        yield spark


def _drivers_named(cluster: SparkCluster, token: str) -> list[str]:
    """IDs of the drivers the Worker launched with ``spark.app.name`` = ``token``."""
    needle = f'"-Dspark.app.name={token}"'
    return sorted(stderr.parent.name for stderr in (cluster.root / "work").glob("driver-*/stderr")
                  if needle in stderr.read_text(errors="replace").split("\n", 1)[0])


def test_retry_reattaches_to_the_running_driver(airflow_home: AirflowHome,
                                                cluster: SparkCluster, tmp_path: Path) -> None:
    output = tmp_path / "sum.json"
    env = {"RESUMABLE_EXAMPLE_SPARK_REST_URL": cluster.rest_url,
           "RESUMABLE_EXAMPLE_SPARK_MASTER_URL": cluster.master_url,
           "RESUMABLE_EXAMPLE_SPARK_WEB_URL": cluster.web_url,
           "RESUMABLE_EXAMPLE_SPARK_OUTPUT": str(output),
           "RESUMABLE_EXAMPLE_SPARK_N": str(N),
           "RESUMABLE_EXAMPLE_POLL_INTERVAL": "0.5"}
    [run] = airflow_home.run(RunSpec(DAG_ID, setup=f"{__name__}:crash_while_polling"),
                             env=env, timeout=300)
    assert run.state == "success", cluster.log_tail()
    assert run.report["crashes"] == ["sum_range[-1] try 1: poll_until_complete"]
    assert run.report["states_seen_by_retry"][0] in ("SUBMITTED", "RUNNING")
    [ti] = airflow_home.db.task_tries(DAG_ID, run.run_id).values()
    assert (ti.state, ti.try_number) == ("success", 2)

    token = idempotency_token_for(TaskScope(DAG_ID, run.run_id, "sum_range"), KEY, 0)
    [driver] = _drivers_named(cluster, token)
    state = cluster.master_state()
    assert [d["id"] for d in state["activedrivers"] + state["completeddrivers"]] == [driver]
    assert json.loads(output.read_text()) == {"sum": N * (N - 1) // 2, "n": N}

    rows = {row.key: row for row in airflow_home.db.task_state(DAG_ID, run.run_id)}
    assert rows[KEY].value == driver and rows[KEY].expires_at is None
    assert airflow_home.db.xcom(DAG_ID, run.run_id, "sum_range") == {
        "driver_id": driver, "state": "FINISHED"}

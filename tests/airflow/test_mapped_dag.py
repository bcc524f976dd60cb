"""The mapped DAG in real Airflow: each map index keeps its own checkpoint and job state.

``resumable_mapped`` expands a checkpointed ingest over three partitions (4 pages each)
and the Databricks operator over three run names. On the first try, map index 1 of the
ingest fails loading its second page, and map index 2 of the Databricks runs dies while
polling. Only those two indexes run again: the ingest index resumes at its own failed
page (the page server's counts, and the checkpoint row Airflow held for map index 1 when
it failed), the Databricks index reattaches to its own run. Airflow's
``task_state_store`` holds one run ID per map index, never expiring.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from examples.databricks import DatabricksSubmitRunOperator
from examples.paginated_ingest.ingest import Target
from resumable import ResumableJobMixin, idempotency_token_for
from resumable.demo import JobServer
from store_client import TaskScope
from tests.examples.paginated_support import PageServer
from tests.support.airflow_env import (
    AirflowHome,
    DagRunResult,
    MetadataDB,
    RunSpec,
    fail_first_try,
)

DAG_ID = "resumable_mapped"
PER, PARTITIONS = 4, 3
FAIL_INDEX, FAIL_PAGE = 1, 6  # partition 1 holds pages 5-8: it fails on its second page
KEY = DatabricksSubmitRunOperator.external_id_key


@contextlib.contextmanager
def crash_two_indexes() -> Iterator[Callable[[], Any]]:
    """In the child: ingest index 1 fails at page 6, Databricks index 2 while polling.

    When the ingest fails, the checkpoint rows Airflow holds for ``ingest_partition`` are
    recorded (what the retry will resume from).
    """
    from airflow.sdk import get_current_context

    held: list[tuple[int, str, Any]] = []

    def at_fail_page(target: Target, page: int, items: Any) -> bool:
        if page != FAIL_PAGE:
            return False
        ti = get_current_context()["ti"]
        db = MetadataDB.from_env()
        try:
            held.extend((r.map_index, r.key, r.value) for r in db.task_state(ti.dag_id, ti.run_id)
                        if r.task_id == "ingest_partition")
        finally:
            db.close()
        return True

    with fail_first_try(Target, "load_page", task_id="ingest_partition",
                        map_index=FAIL_INDEX, when=at_fail_page) as ingest_crash, \
            fail_first_try(ResumableJobMixin, "poll_until_complete", task_id="run_partition",
                           map_index=2) as job_crash:
        yield lambda: {"crashes": ingest_crash + job_crash, "held_at_crash": held}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[PageServer, JobServer]]:
    with PageServer(pages=PER * PARTITIONS, page_size=2) as pages, \
            JobServer(pending_seconds=0.1, run_seconds=1) as jobs:
        yield pages, jobs


@pytest.fixture(scope="module")
def run(airflow_home: AirflowHome, servers: tuple[PageServer, JobServer],
        tmp_path_factory: pytest.TempPathFactory) -> DagRunResult:
    pages, jobs = servers
    env = {"RESUMABLE_EXAMPLE_INGEST_SERVER": pages.url,
           "RESUMABLE_EXAMPLE_INGEST_TARGET": str(tmp_path_factory.mktemp("mapped") / "t.db"),
           "RESUMABLE_EXAMPLE_PAGES_PER_PARTITION": str(PER),
           "RESUMABLE_EXAMPLE_DATABRICKS_HOST": jobs.url,
           "RESUMABLE_EXAMPLE_POLL_INTERVAL": "0.1"}
    [result] = airflow_home.run(RunSpec(DAG_ID, setup=f"{__name__}:crash_two_indexes"),
                                env=env)
    return result


def test_only_the_crashed_indexes_ran_twice(airflow_home: AirflowHome,
                                            run: DagRunResult) -> None:
    assert run.state == "success"
    assert run.report["crashes"] == ["ingest_partition[1] try 1: load_page",
                                     "run_partition[2] try 1: poll_until_complete"]
    tries = {key: (ti.state, ti.try_number)
             for key, ti in airflow_home.db.task_tries(DAG_ID, run.run_id).items()}
    assert tries == {("ingest_partition", 0): ("success", 1),
                     ("ingest_partition", 1): ("success", 2),
                     ("ingest_partition", 2): ("success", 1),
                     ("run_partition", 0): ("success", 1),
                     ("run_partition", 1): ("success", 1),
                     ("run_partition", 2): ("success", 2)}


def test_each_ingest_index_resumed_from_its_own_checkpoint(
        airflow_home: AirflowHome, servers: tuple[PageServer, JobServer],
        run: DagRunResult) -> None:
    # When index 1 failed, Airflow held its checkpoint under map_index 1: page 5 done.
    assert run.report["held_at_crash"] == [[FAIL_INDEX, "page", FAIL_PAGE - 1]]
    for index in range(PARTITIONS):
        first = index * PER + 1
        resumed = FAIL_PAGE - 1 if index == FAIL_INDEX else None
        pages = list(range(resumed + 1 if resumed else first, first + PER))
        assert airflow_home.db.xcom(DAG_ID, run.run_id, "ingest_partition", index) == {
            "map_index": index, "partition": index, "resumed_from": resumed, "pages": pages}
    served = servers[0].stats()
    assert served == {page: 2 if page == FAIL_PAGE else 1 for page in range(1, PER * 3 + 1)}


def test_each_job_index_keeps_its_own_run_id(airflow_home: AirflowHome,
                                             servers: tuple[PageServer, JobServer],
                                             run: DagRunResult) -> None:
    submissions = servers[1].submissions()
    assert len(submissions) == PARTITIONS  # one run per map index, none resubmitted
    by_token = {s["idempotency_token"]: s for s in submissions}
    rows = {(r.map_index, r.key): r for r in airflow_home.db.task_state(DAG_ID, run.run_id)
            if r.task_id == "run_partition"}
    assert sorted(rows) == sorted((i, k) for i in range(PARTITIONS)
                                  for k in (KEY, f"resumable.job/{KEY}",
                                            f"resumable.claim/{KEY}"))
    for index in range(PARTITIONS):
        token = idempotency_token_for(TaskScope(DAG_ID, run.run_id, "run_partition", index),
                                      KEY, 0)
        submitted = by_token[token]  # the token includes the map index
        assert submitted["run_name"] == f"partition-{index}"
        assert rows[(index, KEY)].value == submitted["run_id"]
        assert rows[(index, KEY)].expires_at is None
        assert airflow_home.db.xcom(DAG_ID, run.run_id, "run_partition", index) == {
            "run_id": submitted["run_id"], "result_state": "SUCCESS"}

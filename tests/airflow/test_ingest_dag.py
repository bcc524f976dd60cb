"""The paginated-ingest DAG in real Airflow: a checkpointed task resumes at the failed page.

Both tasks of ``resumable_paginated_ingest`` fail on their first try while loading one
page (``ingest_pages`` at page 7, ``ingest_tokens`` at page 4: the page was fetched,
its load raised). The retry of each starts at that page: the page server's own counts
show every earlier page served once per task, the failed page once more, and the target
shows every page loaded exactly once per task. ``ingest_pages`` is ``@task`` stacked on
``@checkpoint``: it ran with the checkpoint injected, and Airflow bound its own
arguments. The checkpoints are gone from Airflow's ``task_state_store`` after success.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.paginated_ingest.ingest import Target
from examples.paginated_ingest.server import Catalog
from tests.examples.paginated_support import PageServer
from tests.support.airflow_env import AirflowHome, DagRunResult, RunSpec, fail_first_try

DAG_ID = "resumable_paginated_ingest"
PAGES, SIZE = 12, 3
FAIL_PAGES = {"ingest_pages": 7, "ingest_tokens": 4}


@contextlib.contextmanager
def fail_loading(pages: dict[str, int]) -> Iterator[Callable[[], Any]]:
    """In the child: each task's first try raises while loading its page (fetched)."""
    with contextlib.ExitStack() as stack:
        crashes = [stack.enter_context(fail_first_try(
            Target, "load_page", task_id=task_id,
            when=lambda target, page, items, k=page: page == k))
            for task_id, page in pages.items()]
        yield lambda: {"crashes": sorted(c for found in crashes for c in found)}


@pytest.fixture(scope="module")
def server() -> Iterator[PageServer]:
    with PageServer(pages=PAGES, page_size=SIZE) as srv:
        yield srv


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ingest") / "target.db"


@pytest.fixture(scope="module")
def run(airflow_home: AirflowHome, server: PageServer, target: Path) -> DagRunResult:
    env = {"RESUMABLE_EXAMPLE_INGEST_SERVER": server.url,
           "RESUMABLE_EXAMPLE_INGEST_TARGET": str(target)}
    [result] = airflow_home.run(RunSpec(DAG_ID, setup=f"{__name__}:fail_loading",
                                        setup_kwargs={"pages": FAIL_PAGES}), env=env)
    return result


def test_both_tasks_failed_once_and_succeeded_on_the_retry(
        airflow_home: AirflowHome, run: DagRunResult) -> None:
    assert run.state == "success"
    assert run.report == {"crashes": ["ingest_pages[-1] try 1: load_page",
                                      "ingest_tokens[-1] try 1: load_page"]}
    tries = airflow_home.db.task_tries(DAG_ID, run.run_id)
    assert {key[0]: (ti.state, ti.try_number) for key, ti in tries.items()} == {
        "ingest_pages": ("success", 2), "ingest_tokens": ("success", 2)}


def test_the_retry_started_at_the_failed_page(airflow_home: AirflowHome,
                                              run: DagRunResult) -> None:
    pages_k, tokens_k = FAIL_PAGES["ingest_pages"], FAIL_PAGES["ingest_tokens"]
    # What the successful (second) tries returned: where they resumed, what they loaded.
    assert airflow_home.db.xcom(DAG_ID, run.run_id, "ingest_pages") == {
        "resumed_from": pages_k - 1, "pages": list(range(pages_k, PAGES + 1))}
    assert airflow_home.db.xcom(DAG_ID, run.run_id, "ingest_tokens") == {
        "resumed_from": Catalog(PAGES, SIZE).token_for(tokens_k),
        "pages": list(range(tokens_k, PAGES + 1))}


def test_the_server_served_no_earlier_page_twice(server: PageServer, run: DagRunResult,
                                                 target: Path) -> None:
    # Each task fetches every page once; each failed page was fetched once more (by the
    # retry, which started there). A retry from page 1 would show 2 fetches everywhere.
    expected = {page: 2 for page in range(1, PAGES + 1)}
    for page in FAIL_PAGES.values():
        expected[page] += 1
    assert server.stats() == expected
    db = Target(target)
    try:
        assert db.loads_per_page() == {page: 2 for page in range(1, PAGES + 1)}
        assert db.item_ids() == list(range(1, PAGES * SIZE + 1))
    finally:
        db.close()


def test_checkpoints_are_cleared_on_success(airflow_home: AirflowHome,
                                            run: DagRunResult) -> None:
    assert airflow_home.db.task_state(DAG_ID, run.run_id) == []

"""``durable=False``: nothing is stored, so every try is a fresh submission under a fresh,
random token. A fixed token (it used to be derived from the scope, generation 0) made a
system that dedupes on it (Databricks, our job server) hand every retry the same failed
job forever."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from examples.databricks.operator import DatabricksSubmitRunOperator
from resumable import JobFailedError, idempotency_token_for
from resumable.demo import JobServer
from store_client import TaskScope, TaskStore
from tests.resumable.fake_jobs import FakeJobs, FakeOperator, ctx


class TI:
    """The task instance of an Airflow context: the scope a durable token derives from."""

    dag_id, run_id, task_id, map_index = "dag", "run", "task", -1


CONTEXT: dict[str, Any] = {"ti": TI()}  # the same task instance on both tries


def _is_one_off(token: Any) -> bool:
    return (isinstance(token, str) and token.startswith("rsm-") and len(token) <= 64
            and token != idempotency_token_for(TaskScope("dag", "run", "task"),
                                               "databricks_run_id", 0))


def test_a_failed_run_is_not_handed_back_to_the_next_try(tmp_path: Path) -> None:
    with JobServer(state_path=tmp_path / "runs.db", pending_seconds=0,
                   run_seconds=0.2) as server:
        def operator(**kwargs: Any) -> DatabricksSubmitRunOperator:
            return DatabricksSubmitRunOperator(host=server.url, run_name="nightly",
                                               poll_interval=0.05, poll_timeout=30,
                                               durable=False, **kwargs)

        with pytest.raises(JobFailedError):
            operator(fail=True).execute(CONTEXT)
        result = operator().execute(CONTEXT)
        first, second = server.submissions()
    assert first["state"]["result_state"] == "FAILED"
    assert second["run_id"] != first["run_id"]
    assert result == {"run_id": second["run_id"], "result_state": "SUCCESS"}
    tokens = [first["idempotency_token"], second["idempotency_token"]]
    assert tokens[0] != tokens[1] and all(_is_one_off(t) for t in tokens)


def test_each_try_gets_a_new_job_from_a_deduping_system() -> None:
    jobs = FakeJobs(script=["RUNNING", "FAILED"], dedupe_tokens=True)
    with pytest.raises(JobFailedError):
        FakeOperator(jobs, durable=False).execute(CONTEXT)
    jobs.script = ["SUCCESS"]
    assert FakeOperator(jobs, durable=False).execute(CONTEXT) == {"job": 101}
    (_, token0), (_, token1) = jobs.submissions
    assert token0 != token1 and _is_one_off(token0) and _is_one_off(token1)


class NoId(FakeOperator):
    """A system that gives no ID (as Airflow's mixin allows): polled with None."""

    polled: list[Any]

    def submit_job(self, context: Any) -> Any:
        super().submit_job(context)
        return None

    def poll_until_complete(self, external_id: Any, context: Any) -> Any:
        self.polled = [*getattr(self, "polled", []), external_id]
        return "SUCCESS"

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return "done"


@pytest.mark.parametrize("durable", [False, True])
def test_submit_job_returning_none_stores_nothing_and_still_waits(
        durable: bool, store: TaskStore, caplog: pytest.LogCaptureFixture) -> None:
    op = NoId(FakeJobs(), durable=durable)
    with caplog.at_level("WARNING", "resumable.jobs"):
        assert op.execute(ctx(store)) == "done"
    assert op.polled == [None]
    assert store.items() == {}  # no intent, no claim left behind
    assert "submit_job returned None" in caplog.text

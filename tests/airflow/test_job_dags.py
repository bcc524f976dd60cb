"""The Databricks and EMR DAGs in real Airflow: a retry after a crash reattaches to the same job.

Each try runs inside ``dag.test()``, so a "dead worker" is a try that raises right where
a SIGKILL would land (:func:`~tests.support.airflow_env.fail_first_try`), with
``retries=1`` and no retry delay. Scenarios:

- Databricks, crash while polling (the run ID is stored): the retry reattaches;
- Databricks, crash right after ``runs/submit`` answered, before the ID was stored: the
  retry adopts the run ``find_job`` finds under the same token;
- EMR (boto3 against moto, started inside the child because moto's step states can only
  be driven in the process that serves them): crash while polling, the retry waits on the
  same step.

Every scenario ends with exactly one job at the service, the ID in Airflow's
``task_state_store`` with ``expires_at`` NULL (``NEVER_EXPIRE``), and two tries.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any
from unittest import mock

import pytest

from examples.databricks import DatabricksSubmitRunOperator
from examples.emr import EmrAddStepOperator
from resumable import ResumableJobMixin, idempotency_token_for
from resumable.demo import JobServer
from store_client import TaskScope
from tests.support import require_or_skip
from tests.support.airflow_env import (
    AirflowHome,
    DagRunResult,
    RunSpec,
    fail_first_try,
    running_try,
)

DATABRICKS = "resumable_databricks"
EMR = "resumable_emr"
DATABRICKS_KEY = DatabricksSubmitRunOperator.external_id_key
EMR_KEY = EmrAddStepOperator.external_id_key
FAKE_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
Report = Callable[[], Any]


# -- setups: entered inside the child process around one dag.test() ----------------------

@contextlib.contextmanager
def crash_while_polling() -> Iterator[Report]:
    """First try dies in ``poll_until_complete``: after the job ID was stored."""
    with fail_first_try(ResumableJobMixin, "poll_until_complete") as crashes:
        yield lambda: {"crashes": crashes}


@contextlib.contextmanager
def crash_after_submit() -> Iterator[Report]:
    """First try dies right after ``runs/submit`` answered, before the ID was stored."""
    with fail_first_try(DatabricksSubmitRunOperator, "submit_job", after=True) as crashes:
        yield lambda: {"crashes": crashes}


@contextlib.contextmanager
def emr_on_moto(region: str = "us-east-1") -> Iterator[Report]:
    """moto's EMR in this process, a cluster, and a crash while polling on the first try;
    the step completes only once the second try waits on it."""
    import boto3  # type: ignore[import-untyped,unused-ignore]
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.emr.models import emr_backends
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        emr = boto3.client("emr", region_name=region, endpoint_url=url)
        cluster = emr.run_job_flow(
            Name="resumable-airflow", ReleaseLabel="emr-7.1.0",
            Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge",
                       "KeepJobFlowAliveWhenNoSteps": True},
            JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole")["JobFlowId"]
        settings = {"RESUMABLE_EXAMPLE_EMR_ENDPOINT_URL": url,  # read when the DAG is parsed
                    "RESUMABLE_EXAMPLE_EMR_CLUSTER_ID": cluster,
                    "RESUMABLE_EXAMPLE_EMR_REGION": region}
        states_seen: list[str] = []

        def poll(self: EmrAddStepOperator, external_id: Any, context: Any) -> Any:
            if running_try().try_number >= 2:  # the retry reattached: let the step finish
                step = next(s for s in emr_backends[DEFAULT_ACCOUNT_ID][region]
                            .clusters[cluster].steps if s.id == external_id)
                states_seen.append(step.state)
                step.state = "COMPLETED"
            # looked up at call time: the mixin's method is patched too (the crash)
            return ResumableJobMixin.poll_until_complete(self, external_id, context)

        with mock.patch.dict(os.environ, settings), \
                mock.patch.object(EmrAddStepOperator, "poll_until_complete", poll), \
                fail_first_try(ResumableJobMixin, "poll_until_complete") as crashes:
            def report() -> dict[str, Any]:
                listed = emr.list_steps(ClusterId=cluster)["Steps"]
                return {"crashes": crashes, "states_seen_by_retry": states_seen,
                        "steps": [{"id": s["Id"], "name": s["Name"],
                                   "state": s["Status"]["State"]} for s in listed]}
            yield report
    finally:
        server.stop()


# -- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def databricks_runs(airflow_home: AirflowHome,
                    job_server: JobServer) -> dict[str, DagRunResult]:
    """Both Databricks scenarios, one child process, two DAG runs."""
    env = {"RESUMABLE_EXAMPLE_DATABRICKS_HOST": job_server.url,
           "RESUMABLE_EXAMPLE_POLL_INTERVAL": "0.1"}
    polling, submitting = airflow_home.run(
        RunSpec(DATABRICKS, datetime(2026, 2, 1, tzinfo=timezone.utc),
                setup=f"{__name__}:crash_while_polling"),
        RunSpec(DATABRICKS, datetime(2026, 2, 2, tzinfo=timezone.utc),
                setup=f"{__name__}:crash_after_submit"),
        env=env)
    return {"polling": polling, "submitting": submitting}


def _token(result: DagRunResult, task_id: str, key: str) -> str:
    return idempotency_token_for(TaskScope(result.dag_id, result.run_id, task_id), key, 0)


# -- tests ------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["polling", "submitting"])
def test_databricks_retry_after_a_crash_makes_exactly_one_run(
        airflow_home: AirflowHome, job_server: JobServer,
        databricks_runs: dict[str, DagRunResult], scenario: str) -> None:
    result = databricks_runs[scenario]
    assert result.state == "success"
    crash = "nightly_run[-1] try 1: " + ("poll_until_complete" if scenario == "polling"
                                         else "after submit_job")
    assert result.report == {"crashes": [crash]}
    [ti] = airflow_home.db.task_tries(DATABRICKS, result.run_id).values()
    assert (ti.state, ti.try_number) == ("success", 2)
    token = _token(result, "nightly_run", DATABRICKS_KEY)
    runs = [s for s in job_server.submissions() if s["idempotency_token"] == token]
    assert len(runs) == 1, runs  # the server saw one submission for this DAG run
    assert runs[0]["state"]["result_state"] == "SUCCESS"
    assert airflow_home.db.xcom(DATABRICKS, result.run_id, "nightly_run") == {
        "run_id": runs[0]["run_id"], "result_state": "SUCCESS"}


def test_databricks_run_id_never_expires_in_airflows_task_state_store(
        airflow_home: AirflowHome, job_server: JobServer,
        databricks_runs: dict[str, DagRunResult]) -> None:
    assert len(job_server.submissions()) == 2  # one per DAG run, nothing else
    for result in databricks_runs.values():
        rows = {row.key: row for row in airflow_home.db.task_state(DATABRICKS, result.run_id)}
        assert set(rows) == {DATABRICKS_KEY, f"resumable.job/{DATABRICKS_KEY}",
                             f"resumable.claim/{DATABRICKS_KEY}"}
        assert rows[f"resumable.claim/{DATABRICKS_KEY}"].expires_at is None
        token = _token(result, "nightly_run", DATABRICKS_KEY)
        [run] = [s for s in job_server.submissions() if s["idempotency_token"] == token]
        assert rows[DATABRICKS_KEY].value == run["run_id"]
        assert rows[DATABRICKS_KEY].expires_at is None
        assert rows[f"resumable.job/{DATABRICKS_KEY}"].expires_at is None
        record = rows[f"resumable.job/{DATABRICKS_KEY}"].value
        assert (record["token"], record["generation"], record["phase"]) == (token, 0,
                                                                             "finished")


def test_emr_retry_reattaches_to_the_same_step(airflow_home: AirflowHome) -> None:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        require_or_skip("the EMR DAG test needs moto[server] (pip install 'moto[server]')")
    env = {**FAKE_AWS_ENV, "RESUMABLE_EXAMPLE_POLL_INTERVAL": "0.05"}
    [result] = airflow_home.run(RunSpec(EMR, setup=f"{__name__}:emr_on_moto"), env=env)
    assert result.state == "success"
    report = result.report
    assert report["crashes"] == ["add_step[-1] try 1: poll_until_complete"]
    assert report["states_seen_by_retry"] == ["RUNNING"]  # still running when reattached
    [step] = report["steps"]  # exactly one step was added
    token = _token(result, "add_step", EMR_KEY)
    assert step["name"] == f"resumable-nightly [{token}]"
    assert step["state"] == "COMPLETED"
    [ti] = airflow_home.db.task_tries(EMR, result.run_id).values()
    assert (ti.state, ti.try_number) == ("success", 2)
    rows = {row.key: row for row in airflow_home.db.task_state(EMR, result.run_id)}
    assert rows[EMR_KEY].value == step["id"] and rows[EMR_KEY].expires_at is None
    assert airflow_home.db.xcom(EMR, result.run_id, "add_step") == {
        "step_id": step["id"], "state": "COMPLETED"}

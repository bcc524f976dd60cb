"""ResumableJobMixin on real Apache Airflow ``BaseOperator`` subclasses (DAG parsing,
``durable=`` and polling keywords, MRO with and without an operator ``__init__``)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from resumable import ResumableJobMixin
from store_client import TaskScope, connect
from tests.resumable.fake_jobs import AccessorLike, FakeJobs


def _operators(sdk: Any) -> tuple[type, type, type]:
    class Base(ResumableJobMixin, sdk.BaseOperator):  # type: ignore[misc]
        external_id_key = "af_job_id"
        poll_interval = 0.001

        def submit_job(self, context: Any) -> Any:
            return self.jobs.submit(self.idempotency_token)

        def get_job_status(self, external_id: Any, context: Any) -> Any:
            return self.jobs.status(external_id)

        def is_job_active(self, status: Any) -> bool:
            return status == "RUNNING"

        def is_job_succeeded(self, status: Any) -> bool:
            return status == "SUCCESS"

        def get_job_result(self, external_id: Any, context: Any) -> Any:
            return {"job": external_id}

    class WithInit(Base):
        def __init__(self, *, flavour: str = "x", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.flavour = flavour
            self.jobs = FakeJobs()

    class WithoutInit(Base):
        jobs = FakeJobs()

    return Base, WithInit, WithoutInit


def test_operators_parse_and_take_the_mixin_keywords(airflow_sdk: Any) -> None:
    _, with_init, without_init = _operators(airflow_sdk)
    with airflow_sdk.DAG("resumable_mixin_parse", schedule=None):
        a = with_init(task_id="a", flavour="y", durable=False, poll_interval=7, retries=2)
        b = without_init(task_id="b", poll_timeout=30, cancel_on_kill=True)
        c = with_init(task_id="c")
        a >> b >> c
    assert (a.flavour, a.durable, a.poll_interval, a.retries) == ("y", False, 7, 2)
    assert (b.durable, b.poll_timeout, b.cancel_on_kill) == (True, 30, True)
    assert (c.durable, c.poll_interval) == (True, 0.001)
    assert b.upstream_task_ids == {"a"} and c.upstream_task_ids == {"b"}


def test_unknown_keyword_is_still_rejected_by_airflow(airflow_sdk: Any) -> None:
    _, with_init, _ = _operators(airflow_sdk)
    with airflow_sdk.DAG("resumable_mixin_bad_kw", schedule=None), \
            pytest.raises(TypeError, match="Invalid arguments"):
        with_init(task_id="a", no_such_argument=1)


def test_execute_reattaches_on_an_operator(airflow_sdk: Any, tmp_path: Any) -> None:
    _, with_init, _ = _operators(airflow_sdk)
    with airflow_sdk.DAG("resumable_mixin_exec", schedule=None):
        op = with_init(task_id="t")
    store = connect(f"sqlite:///{tmp_path / 's.db'}").task_store(TaskScope("d", "r", "t"))
    assert op.execute({"task_store": store}) == {"job": 100}
    assert op.execute({"task_store": store}) == {"job": 100}
    assert len(op.jobs.submissions) == 1
    accessor = AccessorLike()
    assert op.execute({"task_state_store": accessor}) == {"job": 101}
    assert accessor.retentions["af_job_id"] is airflow_sdk.NEVER_EXPIRE


class PlainSubmitter(ResumableJobMixin):
    """A plain-class operator, as the examples write them, with keywords of its own."""

    external_id_key = "plain_job_id"
    active_states = ("RUNNING",)
    succeeded_states = ("DONE",)

    def __init__(self, *, host: str, run_name: str = "r", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host, self.run_name = host, run_name

    def submit_job(self, context: Any) -> Any:
        return f"{self.host}/{self.run_name}"

    def get_job_status(self, external_id: Any, context: Any) -> Any:
        return "DONE"


def test_a_plain_operator_mixed_with_baseoperator_can_be_mapped(airflow_sdk: Any) -> None:
    class Mapped(PlainSubmitter, airflow_sdk.BaseOperator):  # type: ignore[misc]
        pass

    params = list(inspect.signature(Mapped.__init__).parameters)
    assert params[:2] == ["self", "host"] and "poll_interval" in params
    with airflow_sdk.DAG("resumable_mixin_mapped", schedule=None):
        mapped = Mapped.partial(task_id="m", host="h", poll_interval=0.5,
                                retries=1).expand(run_name=["a", "b"])
        single = Mapped(task_id="s", host="h2", durable=False)
    assert mapped.partial_kwargs["host"] == "h"
    assert (single.host, single.durable, single.run_name) == ("h2", False, "r")
    with airflow_sdk.DAG("resumable_mixin_mapped_bad", schedule=None), \
            pytest.raises(TypeError, match="no_such"):
        Mapped.partial(task_id="m", host="h").expand(no_such=[1])

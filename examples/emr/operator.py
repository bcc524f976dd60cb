"""``EmrAddStepOperator``: one EMR step that survives worker crashes and retries.

How it works: the step is added with ``add_job_flow_steps``. EMR takes no client token
for steps, so the step's *name* carries the mixin's idempotency token:
``"{step_name} [{token}]"``. After a crash between ``add_job_flow_steps`` returning and
the step ID being stored, the retry's ``find_job`` lists the cluster's steps (every
page) and adopts the step whose name ends with ``[token]`` instead of adding a second
one. Status is ``describe_step``'s state; a failed step makes the next try add a new
step under a new generation (new token, so a new name).

What it does not do: create or terminate clusters, or wait for the cluster to be ready
(EMR queues steps on a starting cluster by itself). Steps are added with
``ActionOnFailure=CONTINUE``, so a failed step never takes the cluster down under the
retry that resubmits onto it.

Test-double notes (moto 5.2.5, see ``tests/examples/test_emr.py``): an unknown step ID
is answered with HTTP 200 and no ``Step`` (real EMR raises ``InvalidRequestException``);
both count as "no such job". ``cancel_steps`` is not implemented by moto (HTTP 500);
``cancel_job`` logs the error and returns, as it does for any refused cancellation.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any, Protocol, cast

# boto3/botocore ship no type information (boto3-stubs is not a dependency): both
# import as Any; the client is narrowed to the small _EmrClient protocol below.
import boto3  # type: ignore[import-untyped,unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped,unused-ignore]

from resumable import JobNotFoundError, ResumableJobMixin

__all__ = ["ACTIVE_STATES", "FAILED_STATES", "SUCCEEDED_STATES", "EmrAddStepOperator"]

_log = logging.getLogger(__name__)

ACTIVE_STATES = frozenset({"PENDING", "CANCEL_PENDING", "RUNNING"})
SUCCEEDED_STATES = frozenset({"COMPLETED"})
FAILED_STATES = frozenset({"CANCELLED", "FAILED", "INTERRUPTED"})

# Error codes EMR (and moto) use for a step or cluster ID it does not know.
_NOT_FOUND_CODES = frozenset({"InvalidRequestException", "ResourceNotFound",
                              "ResourceNotFoundException", "StepNotFound"})


class _Paginator(Protocol):
    def paginate(self, **kwargs: Any) -> Any: ...


class _EmrClient(Protocol):
    """The part of boto3's EMR client this operator uses (responses are plain dicts)."""

    def add_job_flow_steps(self, **kwargs: Any) -> dict[str, Any]: ...

    def describe_step(self, **kwargs: Any) -> dict[str, Any]: ...

    def cancel_steps(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_paginator(self, operation_name: str) -> _Paginator: ...


class EmrAddStepOperator(ResumableJobMixin):
    """Add one step to a running EMR cluster and wait for it, resumably.

    ``args`` are the arguments of ``command-runner.jar`` (for example
    ``["spark-submit", "s3://bucket/job.py"]``). ``endpoint_url`` points boto3 elsewhere
    (moto in tests). Returns ``{"step_id": ..., "state": "COMPLETED"}``.
    """

    external_id_key = "emr_step_id"
    active_states = ACTIVE_STATES
    succeeded_states = SUCCEEDED_STATES
    # failed_states set: a state the service adds later is "unknown" (asked again, then
    # JobStatusUnknownError), never a blind resubmit.
    failed_states = FAILED_STATES

    def __init__(self, *, cluster_id: str, step_name: str, args: list[str],
                 region: str = "us-east-1", endpoint_url: str | None = None,
                 poll_interval: float = 5.0, poll_timeout: float | None = 3600,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)  # task_id & co. when mixed with BaseOperator
        self.cluster_id = cluster_id
        self.step_name = step_name
        self.args = list(args)
        self.region = region
        self.endpoint_url = endpoint_url
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout

    @cached_property
    def client(self) -> _EmrClient:
        """The boto3 EMR client, made on first use (credentials from boto3's usual chain)."""
        return cast(_EmrClient, boto3.client("emr", region_name=self.region,
                                             endpoint_url=self.endpoint_url))

    def step_name_for(self, token: str) -> str:
        """The EMR step name carrying ``token`` (what ``find_job`` looks for)."""
        return f"{self.step_name} [{token}]"

    # -- ResumableJobMixin hooks -----------------------------------------------------

    def submit_job(self, context: Any) -> str:
        token = self.idempotency_token
        if token is None:
            raise RuntimeError("idempotency_token is set by ResumableJobMixin before submit_job")
        response = self.client.add_job_flow_steps(
            JobFlowId=self.cluster_id,
            Steps=[{
                "Name": self.step_name_for(token),
                "ActionOnFailure": "CONTINUE",
                "HadoopJarStep": {"Jar": "command-runner.jar", "Args": self.args},
            }],
        )
        step_id: str = response["StepIds"][0]
        _log.info("added EMR step %s to cluster %s", step_id, self.cluster_id)
        return step_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        try:
            response = self.client.describe_step(ClusterId=self.cluster_id, StepId=external_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
                raise JobNotFoundError(
                    f"EMR cluster {self.cluster_id} has no step {external_id!r}: {exc}",
                    external_id=external_id) from exc
            raise  # throttling, 5xx...: the mixin retries status lookups
        step = response.get("Step")
        if not step:
            raise JobNotFoundError(f"EMR cluster {self.cluster_id} has no step {external_id!r}",
                                   external_id=external_id)
        state: str = step["Status"]["State"]
        return state

    def find_job(self, token: str, context: Any) -> str | None:
        suffix = f"[{token}]"
        found: list[str] = []
        for page in self.client.get_paginator("list_steps").paginate(ClusterId=self.cluster_id):
            found += [step["Id"] for step in page.get("Steps", [])
                      if step.get("Name", "").endswith(suffix)]
        if not found:
            return None
        if len(found) > 1:  # newest first, as ListSteps returns them
            _log.warning("%d EMR steps carry token %s (%s); adopting the newest",
                         len(found), token, ", ".join(found))
        return found[0]

    def cancel_job(self, external_id: Any, context: Any) -> None:
        try:
            response = self.client.cancel_steps(
                ClusterId=self.cluster_id, StepIds=[external_id],
                StepCancellationOption="SEND_INTERRUPT")
        except ClientError as exc:  # moto: HTTP 500, cancel_steps is not implemented
            _log.warning("could not cancel EMR step %s on %s: %s",
                         external_id, self.cluster_id, exc)
            return
        for info in response.get("CancelStepsInfoList", []):
            if info.get("Status") == "FAILED":
                _log.warning("EMR refused to cancel step %s: %s",
                             info.get("StepId"), info.get("Reason"))

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        return {"step_id": external_id, "state": self.get_job_status(external_id, context)}

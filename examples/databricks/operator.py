"""``DatabricksSubmitRunOperator``: a Databricks one-time run that survives worker crashes.

How it works: the run is submitted with the Jobs API 2.1 ``runs/submit`` (httpx, bearer
token) carrying the mixin's deterministic ``idempotency_token``. Databricks guarantees at
most one run per token, so a retry that resubmits after a crash between ``runs/submit``
returning and the run ID being stored gets the *same* run back. ``find_job`` goes one
step further where it can: it lists the runs named ``run_name`` and adopts the one
carrying the token. Status is ``runs/get``'s ``life_cycle_state``, with
``:result_state`` appended once the run ended (``"RUNNING"``, ``"TERMINATED:SUCCESS"``).
A failed run makes the next try submit a new run under a new generation (new token).

Statuses: PENDING, QUEUED, BLOCKED, WAITING_FOR_RETRY, RUNNING and TERMINATING are
active; TERMINATED:SUCCESS succeeded; any other TERMINATED result (FAILED, CANCELED,
TIMEDOUT...), SKIPPED and INTERNAL_ERROR failed; anything else (a TERMINATED without a
result, a life-cycle state Databricks adds later) is unknown: asked again, then
``JobStatusUnknownError``, never a blind resubmit.

An unknown run ID: real Databricks answers ``runs/get`` with 400
``INVALID_PARAMETER_VALUE`` "Run N does not exist." (its SDKs remap exactly that to
``ResourceDoesNotExist``); that, and any ``RESOURCE_DOES_NOT_EXIST``, raises
``JobNotFoundError`` (the mixin resubmits). Other HTTP errors raise ``httpx`` errors; the
mixin retries status lookups that fail.

Deferrable (``deferrable=True``, Airflow only): the worker submits and defers; the
triggerer asks ``runs/get`` through :meth:`~DatabricksSubmitRunOperator.aget_job_status`
(``httpx.AsyncClient``, the same parsing as ``get_job_status``) on an instance rebuilt
from :meth:`~DatabricksSubmitRunOperator.trigger_state`: the knobs, ``host``, ``token``
and ``http_timeout`` (so the token is kept in Airflow's trigger table).

What it does not do: build cluster specs or tasks for you (pass ``tasks``), fetch run
output, or page through ``runs/list``. Real ``runs/list`` does not return
``idempotency_token`` (``resumable.demo.JobServer``, the test double, does), so against real
Databricks ``find_job`` finds nothing and the same-token resubmission does the deduping.
``duration_seconds`` and ``fail`` are knobs of that test double, sent only when set.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx

from resumable import JobNotFoundError, ResumableJobMixin

__all__ = ["ACTIVE_STATES", "DatabricksSubmitRunOperator", "is_run_not_found"]

_log = logging.getLogger(__name__)

_API = "/api/2.1/jobs/runs/"
ACTIVE_STATES = frozenset({"PENDING", "QUEUED", "BLOCKED", "WAITING_FOR_RETRY", "RUNNING",
                           "TERMINATING"})
_FAILED_LIFE_CYCLES = frozenset({"SKIPPED", "INTERNAL_ERROR"})
# The message Databricks' SDKs match to turn INVALID_PARAMETER_VALUE into "not found".
_NOT_FOUND_MESSAGE = re.compile(r"Run .* does not exist|Run: .* in job: .* doesn't exist")


def is_run_not_found(response: httpx.Response) -> bool:
    """True if a Jobs API error response says the run does not exist."""
    if response.is_success:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    code, message = body.get("error_code"), str(body.get("message", ""))
    if code == "RESOURCE_DOES_NOT_EXIST":
        return True
    return (response.status_code == 400 and code == "INVALID_PARAMETER_VALUE"
            and _NOT_FOUND_MESSAGE.search(message) is not None)


def _raise_for_status(response: httpx.Response) -> None:
    """``raise_for_status``, with Databricks' error message in the exception text."""
    if not response.is_success:
        raise httpx.HTTPStatusError(
            f"Databricks answered {response.status_code} to {response.request.method} "
            f"{response.request.url}: {response.text[:500]}",
            request=response.request, response=response)


class DatabricksSubmitRunOperator(ResumableJobMixin):
    """Submit one Databricks run (``runs/submit``) and wait for it, resumably.

    ``host`` is the workspace URL (``https://adb-….azuredatabricks.net``, or a
    :class:`resumable.demo.JobServer` ``url``); ``token`` a personal access token
    or None. ``tasks`` is the ``runs/submit`` task list. Returns
    ``{"run_id": ..., "result_state": "SUCCESS"}``.

    Airflow: ``class DatabricksRun(DatabricksSubmitRunOperator, BaseOperator): pass``;
    keywords this class does not take (``task_id``, ``retries``...) go on to the next
    class in the MRO. Without Airflow it is a plain class.
    """

    external_id_key = "databricks_run_id"
    active_states = ACTIVE_STATES
    succeeded_states = frozenset({"TERMINATED:SUCCESS"})

    def __init__(self, *, host: str, token: str | None = None, run_name: str,
                 tasks: list[dict[str, Any]] | None = None,
                 duration_seconds: float | None = None, fail: bool = False,
                 poll_interval: float = 1.0, poll_timeout: float | None = 600,
                 http_timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # task_id & co. when mixed with BaseOperator (see above)
        self.host = host.rstrip("/")
        self.token = token
        self.run_name = run_name
        self.tasks = list(tasks or [])
        self.duration_seconds = duration_seconds
        self.fail = fail
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.http_timeout = http_timeout

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _api(self, method: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        # A client per call: the operator stays picklable/deep-copyable (Airflow does both).
        with httpx.Client(base_url=self.host, headers=self._headers(),
                          timeout=self.http_timeout) as client:
            return client.request(method, _API + endpoint, **kwargs)

    def _run_from(self, response: httpx.Response, run_id: Any) -> dict[str, Any]:
        """The run in a ``runs/get`` answer; ``JobNotFoundError`` if there is no such run."""
        if is_run_not_found(response):
            raise JobNotFoundError(f"Databricks at {self.host} has no run {run_id!r}",
                                   external_id=run_id)
        _raise_for_status(response)
        run: dict[str, Any] = response.json()
        return run

    def _get_run(self, run_id: Any) -> dict[str, Any]:
        return self._run_from(self._api("GET", "get", params={"run_id": run_id}), run_id)

    @staticmethod
    def _status(run: dict[str, Any]) -> str:
        state = run.get("state", {})
        life, result = state.get("life_cycle_state"), state.get("result_state")
        return f"{life}:{result}" if result else str(life)

    # -- ResumableJobMixin hooks -----------------------------------------------------

    def submit_job(self, context: Any) -> int:
        token = self.idempotency_token
        if token is None:
            raise RuntimeError("idempotency_token is set by ResumableJobMixin before submit_job")
        body: dict[str, Any] = {"run_name": self.run_name, "idempotency_token": token,
                                "tasks": self.tasks}
        if self.duration_seconds is not None:
            body["duration_seconds"] = self.duration_seconds
        if self.fail:
            body["fail"] = True
        response = self._api("POST", "submit", json=body)
        _raise_for_status(response)
        run_id: int = response.json()["run_id"]
        _log.info("submitted Databricks run %s (%s, token %s)", run_id, self.run_name, token)
        return run_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        return self._status(self._get_run(external_id))

    async def aget_job_status(self, external_id: Any) -> str:
        """``get_job_status`` for the triggerer (``deferrable=True``), with httpx's async client."""
        async with httpx.AsyncClient(base_url=self.host, headers=self._headers(),
                                     timeout=self.http_timeout) as client:
            response = await client.get(_API + "get", params={"run_id": external_id})
        return self._status(self._run_from(response, external_id))

    def trigger_state(self) -> dict[str, Any]:
        """The knobs, and what ``aget_job_status`` reads: ``host``, ``token``, ``http_timeout``."""
        return {**super().trigger_state(), "host": self.host, "token": self.token,
                "http_timeout": self.http_timeout}

    def is_job_failed(self, status: Any) -> bool:
        # Overridden so that a state Databricks adds later is "unknown" (asked again,
        # then JobStatusUnknownError), never a blind resubmit.
        life, _, result = str(status).partition(":")
        return life in _FAILED_LIFE_CYCLES or (life == "TERMINATED" and result not in
                                                ("", "SUCCESS"))

    def find_job(self, token: str, context: Any) -> int | None:
        response = self._api("GET", "list", params={"run_name": self.run_name})
        _raise_for_status(response)
        found = [run["run_id"] for run in response.json().get("runs", [])
                 if run.get("idempotency_token") == token]
        if len(found) > 1:  # newest first, as runs/list returns them
            _log.warning("%d Databricks runs carry token %s (%s); adopting the newest",
                         len(found), token, found)
        return found[0] if found else None

    def cancel_job(self, external_id: Any, context: Any) -> None:
        response = self._api("POST", "cancel", json={"run_id": external_id})
        if is_run_not_found(response):
            _log.warning("Databricks run %s to cancel does not exist", external_id)
            return
        _raise_for_status(response)

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        state = self._get_run(external_id).get("state", {})
        return {"run_id": external_id, "result_state": state.get("result_state")}

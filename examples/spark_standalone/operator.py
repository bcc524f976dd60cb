"""Submit a PySpark application to a Spark standalone cluster, resumably.

:class:`SparkStandaloneSubmitOperator` talks to the Master's REST submission server
(``spark.master.rest.enabled true``) with httpx: ``POST /v1/submissions/create`` starts a
driver in cluster mode and returns its ID (``driver-…``), ``GET /v1/submissions/status/ID``
gives its ``driverState``, ``POST /v1/submissions/kill/ID`` stops it. Built on
:class:`resumable.ResumableJobMixin`, so a worker killed while the driver runs leaves the
driver ID in the task store and the retry reattaches to the same driver::

    op = SparkStandaloneSubmitOperator(
        rest_url="http://spark-master:6066", web_url="http://spark-master:8080",
        master_url="spark://spark-master:7077", app_file="/jobs/app.py", app_args=["out"])
    op.execute({"task_store": connect(url).task_store(TaskScope("dag", "run", "task"))})
    # -> {"driver_id": "driver-20260101000000-0000", "state": "FINISHED"}

Driver states (Spark's ``DriverState``): SUBMITTED, RUNNING and RELAUNCHING are active;
FINISHED succeeded; FAILED, KILLED and ERROR failed (the mixin then submits a new
generation); UNKNOWN (the Master lost track of the driver's worker, e.g. during recovery)
is claimed by none of the predicates, so the mixin asks again instead of resubmitting.
A status answer with ``success: false`` and no message means the Master does not know the
ID (:class:`resumable.JobNotFoundError`); with a message (e.g. a standby Master) it is a
:class:`MasterUnavailableError`, a ``ConnectionError``, which the mixin retries.

How ``find_job`` maps the idempotency token to a driver ID. The REST API has no
idempotency token: every create makes a new driver. The operator therefore sets
``spark.app.name`` to ``self.idempotency_token``. Measured on Spark 4.3.0, the Master's
web UI ``/json/`` does not connect the two: ``activedrivers``/``completeddrivers`` list
``id``, ``state``, ``worker`` and ``mainclass`` (always ``PythonRunner``) but no name,
while ``activeapps``/``completedapps`` list the name but not the driver, and an app
appears only once its SparkContext registered, seconds after the driver started. What
does carry both is the driver's ``stderr`` on its Worker: its first line is the
``Launch Command`` with every submitted property as ``"-Dspark.app.name=<token>"``,
written when the Worker launches the driver. So ``find_job`` lists the drivers in the
Master's ``/json/`` (active ones first, then completed, newest first), and for each one
reads the head of that file from its Worker's web UI (``/log/?driverId=…&logType=stderr``,
the Worker's address is in ``/json/``'s ``workers``), returning the driver whose launch
command names the token. A driver that is not launched yet (SUBMITTED, no worker) or whose
log is not written yet cannot be ruled out: ``find_job`` waits for it up to
``find_timeout`` seconds and then raises :class:`DriverLookupError` rather than risk a
duplicate submission (the task fails; its retry looks again). Drivers of a Worker that is
gone, or beyond the Master's ``spark.deploy.retainedDrivers``, cannot be found.

Deferrable (``deferrable=True``, mixed into Airflow's ``BaseOperator``): the triggerer
asks the driver's state with :meth:`~SparkStandaloneSubmitOperator.aget_job_status`
(``httpx.AsyncClient``, the same parsing as ``get_job_status``), on an instance rebuilt
from ``trigger_state``: the knobs, ``rest_url`` and ``request_timeout``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from resumable import JobNotFoundError, ResumableJobMixin

__all__ = ["DriverLookupError", "MasterUnavailableError", "SparkStandaloneSubmitOperator"]

_log = logging.getLogger(__name__)

ACTIVE_STATES = frozenset({"SUBMITTED", "RUNNING", "RELAUNCHING"})
SUCCEEDED_STATES = frozenset({"FINISHED"})
FAILED_STATES = frozenset({"FAILED", "KILLED", "ERROR"})
_LOG_HEAD_BYTES = 65536


class MasterUnavailableError(ConnectionError):
    """The Master answered but cannot serve (e.g. a standby Master): transient, retried."""


class DriverLookupError(RuntimeError):
    """``find_job`` could not rule out every driver within ``find_timeout`` seconds."""


class SparkStandaloneSubmitOperator(ResumableJobMixin):
    """Run a PySpark application as a cluster-mode driver through the REST submission API.

    Args:
        rest_url: The REST submission server, ``http://HOST:PORT`` (Spark's default 6066).
        master_url: The Master as drivers reach it, ``spark://HOST:PORT``.
        web_url: The Master's web UI, ``http://HOST:PORT`` (its ``/json/`` listing is what
            ``find_job`` searches).
        app_file: Path of the Python application, readable by the Worker.
        app_args: Arguments passed to the application.
        python: The Python executable drivers and executors run (``spark.pyspark.python``);
            it needs pyspark installed.
        spark_properties: Extra Spark properties (strings). ``spark.app.name`` is always
            the idempotency token.
        poll_interval: Seconds between status polls.
        poll_timeout: Give up waiting after this many seconds (None: never).
        find_timeout: How long ``find_job`` waits for drivers not launched yet.
        request_timeout: Timeout of each HTTP request, in seconds.
    """

    external_id_key = "spark_driver_id"
    active_states = ACTIVE_STATES
    succeeded_states = SUCCEEDED_STATES
    # failed_states set: UNKNOWN (and any state a later Spark adds) is asked again, not
    # resubmitted.
    failed_states = FAILED_STATES
    client_spark_version = "4.3.0"

    def __init__(self, *, rest_url: str, master_url: str, web_url: str, app_file: str,
                 app_args: list[str] | None = None, python: str = sys.executable,
                 spark_properties: dict[str, str] | None = None, poll_interval: float = 1.0,
                 poll_timeout: float | None = 600, find_timeout: float = 60.0,
                 request_timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # task_id & co. when mixed with BaseOperator
        self.rest_url = rest_url.rstrip("/")
        self.master_url = master_url
        self.web_url = web_url.rstrip("/")
        self.app_file = str(Path(app_file).resolve())
        self.app_args = list(app_args or [])
        self.python = python
        self.spark_properties = dict(spark_properties or {})
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self.find_timeout = find_timeout
        self.request_timeout = request_timeout

    # -- the REST submission API -----------------------------------------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.request_timeout, follow_redirects=True)

    def submission_body(self, app_name: str) -> dict[str, Any]:
        """The ``CreateSubmissionRequest`` for this application, named ``app_name``."""
        properties = {
            "spark.master": self.master_url,
            "spark.submit.deployMode": "cluster",
            "spark.driver.supervise": "false",
            "spark.driver.memory": "512m",
            "spark.driver.cores": "1",
            "spark.executor.memory": "512m",
            "spark.cores.max": "1",
            "spark.pyspark.python": self.python,
            **self.spark_properties,
            "spark.app.name": app_name,
        }
        return {
            "action": "CreateSubmissionRequest",
            "clientSparkVersion": self.client_spark_version,
            "appResource": f"file:{self.app_file}",
            "mainClass": "org.apache.spark.deploy.PythonRunner",
            # PythonRunner's arguments: the file, the extra --py-files (none), then the app's.
            "appArgs": [self.app_file, "", *self.app_args],
            "environmentVariables": {"SPARK_ENV_LOADED": "1"},
            "sparkProperties": properties,
        }

    def submit_job(self, context: Any) -> str:
        """Create the driver, named after the idempotency token; return its ID."""
        token = self.idempotency_token
        if token is None:
            raise RuntimeError("submit_job needs self.idempotency_token (set by the mixin)")
        with self._client() as client:
            response = client.post(f"{self.rest_url}/v1/submissions/create",
                                   json=self.submission_body(token))
        response.raise_for_status()
        answer = response.json()
        driver_id = answer.get("submissionId")
        if not answer.get("success") or not driver_id:
            raise RuntimeError(f"Spark refused the submission: {answer.get('message')!r}")
        _log.info("submitted %s as %s", token, driver_id)
        return str(driver_id)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        """The driver's ``driverState``; ``JobNotFoundError`` if the Master does not know it."""
        with self._client() as client:
            response = client.get(f"{self.rest_url}/v1/submissions/status/{external_id}")
        return self._driver_state(response, external_id)

    async def aget_job_status(self, external_id: Any) -> str:
        """``get_job_status`` for the triggerer (``deferrable=True``), with httpx's async client."""
        async with httpx.AsyncClient(timeout=self.request_timeout,
                                     follow_redirects=True) as client:
            response = await client.get(f"{self.rest_url}/v1/submissions/status/{external_id}")
        return self._driver_state(response, external_id)

    def trigger_state(self) -> dict[str, Any]:
        """The knobs, and what ``aget_job_status`` reads: ``rest_url``, ``request_timeout``."""
        return {**super().trigger_state(), "rest_url": self.rest_url,
                "request_timeout": self.request_timeout}

    def _driver_state(self, response: httpx.Response, external_id: Any) -> str:
        response.raise_for_status()
        answer = response.json()
        state = answer.get("driverState")
        if answer.get("success") and state:
            return str(state)
        if answer.get("message"):  # e.g. a standby Master: a lookup error, retried
            raise MasterUnavailableError(
                f"status of {external_id} unavailable: {answer['message']}")
        raise JobNotFoundError(f"the Spark Master does not know driver {external_id}",
                               external_id=external_id)

    def cancel_job(self, external_id: Any, context: Any) -> None:
        """Kill the driver (a no-op if it already ended)."""
        with self._client() as client:
            response = client.post(f"{self.rest_url}/v1/submissions/kill/{external_id}")
        response.raise_for_status()
        answer = response.json()
        if not answer.get("success"):
            _log.info("kill %s: %s", external_id, answer.get("message"))

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        return {"driver_id": external_id, "state": self.get_job_status(external_id, context)}

    # -- finding a driver by its name ------------------------------------------------

    def find_job(self, token: str, context: Any) -> str | None:
        """The driver whose launch command has ``spark.app.name`` = ``token``, or None."""
        deadline = time.monotonic() + self.find_timeout
        with self._client() as client:
            while True:
                found, undecided = self._search(client, token)
                if found is not None:
                    _log.info("found driver %s named %s", found, token)
                    return found
                if not undecided:
                    return None
                if time.monotonic() >= deadline:
                    raise DriverLookupError(
                        f"cannot tell whether driver(s) {', '.join(undecided)} are named "
                        f"{token} (not launched yet after {self.find_timeout:.0f} s)")
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    def _search(self, client: httpx.Client, token: str) -> tuple[str | None, list[str]]:
        """One pass over the Master's drivers: (matching ID or None, undecided active IDs)."""
        response = client.get(f"{self.web_url}/json/")
        response.raise_for_status()
        state = response.json()
        workers = {w.get("id"): w.get("webuiaddress") for w in state.get("workers", [])}
        needle = f'"-Dspark.app.name={token}"'
        undecided: list[str] = []
        for group, active in (("activedrivers", True), ("completeddrivers", False)):
            drivers = sorted(state.get(group, []), key=lambda d: str(d.get("id")), reverse=True)
            for driver in drivers:
                driver_id = str(driver.get("id"))
                command = self._launch_command(client, workers.get(driver.get("worker")),
                                               driver_id)
                if command is None:
                    if active:
                        undecided.append(driver_id)
                elif needle in command:
                    return driver_id, []
        return None, undecided

    def _launch_command(self, client: httpx.Client, worker_ui: str | None,
                        driver_id: str) -> str | None:
        """The ``Launch Command`` line of the driver's stderr on its Worker, or None."""
        if not worker_ui:
            return None
        try:
            response = client.get(f"{worker_ui.rstrip('/')}/log/", params={
                "driverId": driver_id, "logType": "stderr", "offset": 0,
                "byteLength": _LOG_HEAD_BYTES})
        except httpx.HTTPError as exc:
            _log.debug("cannot read the log of %s: %s", driver_id, exc)
            return None
        if response.status_code != 200:
            return None
        for line in response.text.splitlines():
            if line.startswith("Launch Command:"):
                return line
        return None

"""``LivyBatchOperator``: one Apache Livy batch that survives worker crashes and retries.

How it works: ``POST /batches`` submits the batch under the name
``"{name}-{idempotency_token}"``; the returned integer batch ID is what the mixin
stores. Status is ``GET /batches/{id}/state``; HTTP 404 means Livy no longer knows the
batch (Livy forgets finished batches after ``livy.server.session.state-retain.sec``,
and all of them on a restart without recovery), which the mixin answers with a warning
and a new submission. After a crash between submit and persist, ``find_job`` pages
through ``GET /batches`` and adopts the batch with the token's name. Livy (0.7+) also
refuses a second session with the same name (HTTP 400 "Duplicate session name"):
``submit_job`` then adopts the existing batch as well.

Requests go through ``requests`` (as Airflow's ``LivyHook`` does) with a
``X-Requested-By`` header, which Livy's CSRF protection demands of POST and DELETE.

What it does not do: authentication (pass a prepared ``requests.Session`` as
``session`` for Kerberos or basic auth), interactive sessions, or fetching the driver log.
"""

from __future__ import annotations

import logging
from typing import Any

import requests

from resumable import JobNotFoundError, ResumableJobMixin

__all__ = ["ACTIVE_STATES", "FAILED_STATES", "SUCCEEDED_STATES", "LivyBatchOperator"]

_log = logging.getLogger(__name__)

ACTIVE_STATES = frozenset({"not_started", "starting", "recovering", "idle", "running",
                           "busy", "shutting_down"})
SUCCEEDED_STATES = frozenset({"success"})
FAILED_STATES = frozenset({"dead", "killed", "error"})

_HEADERS = {"Content-Type": "application/json", "Accept": "application/json",
            "X-Requested-By": "resumable"}
_PAGE_SIZE = 100
_REQUEST_TIMEOUT = 30.0


class LivyBatchOperator(ResumableJobMixin):
    """Submit a Livy batch (``file`` with ``args``) and wait for it, resumably.

    Returns ``{"batch_id": ..., "state": "success", "app_id": ...}``.
    """

    external_id_key = "livy_batch_id"
    active_states = ACTIVE_STATES
    succeeded_states = SUCCEEDED_STATES
    # failed_states set: a state the service adds later is "unknown" (asked again, then
    # JobStatusUnknownError), never a blind resubmit.
    failed_states = FAILED_STATES

    def __init__(self, *, livy_url: str, file: str, name: str, args: list[str] | None = None,
                 poll_interval: float = 5.0, poll_timeout: float | None = 3600,
                 session: requests.Session | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # task_id & co. when mixed with BaseOperator
        self.livy_url = livy_url.rstrip("/")
        self.file = file
        self.name = name
        self.args = list(args or [])
        self.poll_interval = poll_interval
        self.poll_timeout = poll_timeout
        self._session = session

    @property
    def session(self) -> requests.Session:
        """The HTTP session, made on first use (so the operator itself stays picklable)."""
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def batch_name_for(self, token: str) -> str:
        """The Livy batch name carrying ``token`` (what ``find_job`` looks for)."""
        return f"{self.name}-{token}"

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.livy_url}{path}", headers=_HEADERS,
                                    timeout=_REQUEST_TIMEOUT, **kwargs)

    # -- ResumableJobMixin hooks -----------------------------------------------------

    def submit_job(self, context: Any) -> int:
        token = self.idempotency_token
        if token is None:
            raise RuntimeError("idempotency_token is set by ResumableJobMixin before submit_job")
        name = self.batch_name_for(token)
        response = self._request("POST", "/batches",
                                 json={"file": self.file, "args": self.args, "name": name})
        if response.status_code == 400 and "duplicate session name" in response.text.lower():
            existing = self.find_job(token, context)
            if existing is not None:
                _log.info("Livy already has batch %s named %s: adopting it", existing, name)
                return existing
        response.raise_for_status()
        batch_id = int(response.json()["id"])
        _log.info("submitted Livy batch %s (%s)", batch_id, name)
        return batch_id

    def get_job_status(self, external_id: Any, context: Any) -> str:
        response = self._request("GET", f"/batches/{external_id}/state")
        if response.status_code == 404:
            raise JobNotFoundError(f"Livy has no batch {external_id!r}",
                                   external_id=external_id)
        response.raise_for_status()  # 5xx, 429: retried; other 4xx (auth): the try fails
        state: str = response.json()["state"]
        return state

    def find_job(self, token: str, context: Any) -> int | None:
        name = self.batch_name_for(token)
        start = 0
        while True:
            response = self._request("GET", "/batches",
                                     params={"from": start, "size": _PAGE_SIZE})
            response.raise_for_status()
            body = response.json()
            sessions: list[dict[str, Any]] = body.get("sessions") or []
            for batch in sessions:
                if batch.get("name") == name:
                    return int(batch["id"])
            start += len(sessions)
            if not sessions or start >= int(body.get("total", 0)):
                return None

    def cancel_job(self, external_id: Any, context: Any) -> None:
        response = self._request("DELETE", f"/batches/{external_id}")
        if response.status_code == 404:
            _log.info("Livy batch %s is already gone", external_id)
        elif not response.ok:
            _log.warning("could not cancel Livy batch %s: HTTP %s %s",
                         external_id, response.status_code, response.text[:200])

    def get_job_result(self, external_id: Any, context: Any) -> dict[str, Any]:
        response = self._request("GET", f"/batches/{external_id}")
        response.raise_for_status()
        batch = response.json()
        return {"batch_id": external_id, "state": batch.get("state"),
                "app_id": batch.get("appId")}

"""LivyBatchOperator against a stateful fake of Livy's REST API, served through ``responses``.

No Livy server can run here (it needs Spark and a JVM-side session manager), so
:class:`FakeLivy` plays one: it keeps batches by integer ID, walks each batch through a
script of states (one step per ``GET /batches/{id}/state``), pages ``GET /batches``,
refuses duplicate batch names as Livy 0.7+ does, and can forget every batch (a Livy
restart without recovery). The operator's real ``requests`` calls reach it unchanged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from examples.livy import LivyBatchOperator
from resumable import JobFailedError, JobNotFoundError, JobTimeoutError
from store_client import TaskScope, connect

LIVY = "http://livy.test:8998"
KEY = LivyBatchOperator.external_id_key
SCOPE = TaskScope("livy_dag", "run_1", "batch")
Reply = tuple[int, dict[str, str], str]


def _reply(status: int, body: Any) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body)


@dataclass
class FakeLivy:
    """Livy's batch endpoints, in memory. ``script``: the states a new batch walks through."""

    script: list[str] = field(default_factory=lambda: ["starting", "running", "success"])
    batches: dict[int, dict[str, Any]] = field(default_factory=dict)
    scripts: dict[int, list[str]] = field(default_factory=dict)
    posts: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    next_id: int = 0

    def register(self, mock: responses.RequestsMock) -> None:
        batch = re.compile(rf"{re.escape(LIVY)}/batches/(\d+)$")
        mock.add_callback(responses.POST, f"{LIVY}/batches", callback=self._post)
        mock.add_callback(responses.GET, re.compile(rf"{re.escape(LIVY)}/batches/(\d+)/state$"),
                          callback=self._state)
        mock.add_callback(responses.GET, batch, callback=self._get)
        mock.add_callback(responses.DELETE, batch, callback=self._delete)
        mock.add_callback(responses.GET, re.compile(rf"{re.escape(LIVY)}/batches(\?.*)?$"),
                          callback=self._list)

    def add_batch(self, name: str, script: list[str] | None = None) -> int:
        batch_id, self.next_id = self.next_id, self.next_id + 1
        self.scripts[batch_id] = list(script or self.script)
        self.batches[batch_id] = {"id": batch_id, "name": name, "appId": None,
                                  "state": self.scripts[batch_id][0], "log": []}
        return batch_id

    def forget_all(self) -> None:
        """What a Livy restart without session recovery does."""
        self.batches.clear()

    @staticmethod
    def _id(request: Any) -> int:
        return int(re.search(r"/batches/(\d+)", request.url).group(1))  # type: ignore[union-attr]

    def _post(self, request: Any) -> Reply:
        assert request.headers.get("X-Requested-By"), "Livy's CSRF protection needs it"
        body = json.loads(request.body)
        self.posts.append(body)
        if any(b["name"] == body.get("name") for b in self.batches.values()):
            return 400, {}, f"Duplicate session name: {body['name']}"
        batch_id = self.add_batch(body.get("name"))
        return _reply(201, self.batches[batch_id])

    def _state(self, request: Any) -> Reply:
        batch_id = self._id(request)
        if batch_id not in self.batches:
            return 404, {}, f"Session '{batch_id}' not found."
        script = self.scripts[batch_id]
        state = script.pop(0) if len(script) > 1 else script[0]
        self.batches[batch_id]["state"] = state
        if state in ("running", "success"):
            self.batches[batch_id]["appId"] = f"application_1_{batch_id:04d}"
        return _reply(200, {"id": batch_id, "state": state})

    def _get(self, request: Any) -> Reply:
        batch_id = self._id(request)
        if batch_id not in self.batches:
            return 404, {}, f"Session '{batch_id}' not found."
        return _reply(200, self.batches[batch_id])

    def _delete(self, request: Any) -> Reply:
        batch_id = self._id(request)
        self.deletes.append(batch_id)
        if self.batches.pop(batch_id, None) is None:
            return 404, {}, f"Session '{batch_id}' not found."
        return _reply(200, {"msg": "deleted"})

    def _list(self, request: Any) -> Reply:
        params = parse_qs(urlsplit(request.url).query)
        start, size = int(params.get("from", ["0"])[0]), int(params.get("size", ["20"])[0])
        ordered = [self.batches[k] for k in sorted(self.batches)]
        return _reply(200, {"from": start, "total": len(ordered),
                            "sessions": ordered[start:start + size]})


@pytest.fixture
def livy() -> Iterator[FakeLivy]:
    fake = FakeLivy()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.register(mock)
        yield fake


@pytest.fixture
def task_store(tmp_path: Path) -> Iterator[Any]:
    with connect(f"sqlite:///{tmp_path / 'store.db'}") as client:
        yield client.task_store(SCOPE)


def make_operator(cls: type[LivyBatchOperator] = LivyBatchOperator,
                  **overrides: Any) -> LivyBatchOperator:
    kwargs: dict[str, Any] = {"livy_url": LIVY + "/", "file": "s3://jobs/etl.py",
                              "name": "etl", "args": ["--day", "2026-01-01"],
                              "poll_interval": 0.001, "poll_timeout": 5}
    return cls(**{**kwargs, **overrides})


def test_fresh_submit_polls_until_success(livy: FakeLivy, task_store: Any) -> None:
    op = make_operator()
    result = op.execute({"task_store": task_store})

    assert livy.posts == [{"file": "s3://jobs/etl.py", "args": ["--day", "2026-01-01"],
                           "name": f"etl-{op.idempotency_token}"}]
    assert result == {"batch_id": 0, "state": "success", "app_id": "application_1_0000"}
    assert task_store.get(KEY) == 0


def test_retry_reattaches_to_the_stored_batch(livy: FakeLivy, task_store: Any) -> None:
    livy.script = ["running"] * 1000 + ["success"]
    with pytest.raises(JobTimeoutError):  # the first try gives up; the batch keeps running
        make_operator(poll_timeout=0.05).execute({"task_store": task_store})
    assert task_store.get(KEY) == 0
    livy.scripts[0] = ["running", "success"]

    result = make_operator().execute({"task_store": task_store})

    assert len(livy.posts) == 1
    assert result["batch_id"] == 0 and result["state"] == "success"


def test_batch_livy_forgot_is_resubmitted_with_a_warning(
        livy: FakeLivy, task_store: Any, caplog: pytest.LogCaptureFixture) -> None:
    livy.script = ["running"] * 1000
    first = make_operator(poll_timeout=0.05)
    with pytest.raises(JobTimeoutError):
        first.execute({"task_store": task_store})
    livy.forget_all()  # Livy restarted without recovery: GET /batches/0/state is 404
    livy.script = ["starting", "success"]
    with pytest.raises(JobNotFoundError):
        make_operator().get_job_status(0, {})

    second = make_operator()
    with caplog.at_level(logging.WARNING):
        result = second.execute({"task_store": task_store})

    assert [p["name"] for p in livy.posts] == [f"etl-{first.idempotency_token}",
                                               f"etl-{second.idempotency_token}"]
    assert first.idempotency_token != second.idempotency_token
    assert result["batch_id"] == 1 and task_store.get(KEY) == 1
    assert any(r.levelno == logging.WARNING and "no longer knows" in r.getMessage()
               for r in caplog.records)


class _WorkerDied(BaseException):
    """Stands for the worker dying: not an Exception, so nothing on the way catches it."""


class _DiesAfterSubmit(LivyBatchOperator):
    def submit_job(self, context: Any) -> int:
        super().submit_job(context)
        raise _WorkerDied


def test_crash_between_submit_and_persist_adopts_the_batch_by_name(
        livy: FakeLivy, task_store: Any) -> None:
    for i in range(150):  # other batches, so the lookup has to read a second page
        livy.add_batch(f"other-{i}", ["success"])
    crashed = make_operator(_DiesAfterSubmit)
    with pytest.raises(_WorkerDied):  # the intent is stored, the batch ID is not
        crashed.execute({"task_store": task_store})
    assert task_store.get(KEY) is None
    orphan = livy.next_id - 1

    retry = make_operator()
    result = retry.execute({"task_store": task_store})

    assert retry.idempotency_token == crashed.idempotency_token
    assert len(livy.posts) == 1
    assert result["batch_id"] == orphan and result["state"] == "success"
    assert task_store.get(KEY) == orphan


def test_duplicate_name_refused_by_livy_adopts_the_existing_batch(livy: FakeLivy) -> None:
    op = make_operator()
    op.idempotency_token = "rsm-abc-g0"
    first = op.submit_job({})
    again = op.submit_job({})  # Livy answers 400 "Duplicate session name"

    assert again == first
    assert len(livy.batches) == 1
    assert op.find_job("rsm-abc-g1", {}) is None


def test_dead_batch_fails_the_try_and_the_next_try_submits_a_new_generation(
        livy: FakeLivy, task_store: Any) -> None:
    livy.script = ["starting", "running", "dead"]
    first = make_operator()
    with pytest.raises(JobFailedError) as failed:
        first.execute({"task_store": task_store})
    assert failed.value.status == "dead"

    livy.script = ["running", "success"]
    second = make_operator()
    result = second.execute({"task_store": task_store})

    names = [p["name"] for p in livy.posts]
    assert names == [f"etl-{first.idempotency_token}", f"etl-{second.idempotency_token}"]
    assert names[0] != names[1]
    assert result["batch_id"] == 1 and result["state"] == "success"


def test_unknown_state_is_asked_again_not_resubmitted(livy: FakeLivy, task_store: Any) -> None:
    livy.script = ["starting", "some_future_state", "success"]
    result = make_operator().execute({"task_store": task_store})

    assert len(livy.posts) == 1 and result["state"] == "success"


def test_on_kill_cancels_only_when_asked(livy: FakeLivy, task_store: Any) -> None:
    livy.script = ["running"] * 1000
    op = make_operator(poll_timeout=0.05)
    with pytest.raises(JobTimeoutError):
        op.execute({"task_store": task_store})
    op.on_kill()
    assert livy.deletes == []

    op.cancel_on_kill = True
    op.on_kill()
    op.on_kill()  # the batch is gone now: a 404 is not an error
    assert livy.deletes == [0, 0]
    assert 0 not in livy.batches

"""``resumable demo``: a job that survives its worker being SIGKILLed, shown end to end.

How it works: the demo starts the job server of ``resumable.demo._jobserver`` (a
Databricks-shaped HTTP server that records every submission) and runs a small operator
on ``ResumableJobMixin`` in a separate worker process on the configured store (the
embedded SQLite file by default). Once the job is running it SIGKILLs the worker, starts
a second one as Airflow's retry would, and shows from the server's own records that the
retry reattached to the same job and that exactly one job ran. Worker logs are relayed
with a ``[worker N]`` prefix. Then come the ``@checkpoint`` and ``@watermark`` parts of
``resumable.demo._incremental``: a killed ingest resumes, a load runs twice. Workers
are started by ``resumable.demo._processes`` (shared with ``_incremental``, so neither
part imports the other).

What it does not do: use Airflow (see ``examples/dags`` for that), or leave anything
running: the server and workers are stopped by process group.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any

import httpx

from resumable._errors import JobNotFoundError
from resumable._job_mixin import ResumableJobMixin
from resumable.demo._incremental import run_ingest_demo, run_load_demo
from resumable.demo._jobserver import JobServer
from resumable.demo._processes import Say, start_worker, wait_for
from store_client import TaskScope, connect

__all__ = ["DemoJobOperator", "job_worker", "run_demo"]

_ACTIVE = ("PENDING", "RUNNING", "TERMINATING")


class DemoJobOperator(ResumableJobMixin):
    """Submits one run to the demo job server and waits for it."""

    external_id_key = "demo_run_id"
    poll_interval = 0.5
    poll_max_interval = 2.0

    def __init__(self, server_url: str, run_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = httpx.Client(base_url=f"{server_url}/api/2.1/jobs/runs/", timeout=10)
        self.run_seconds = run_seconds

    def submit_job(self, context: Any) -> int:
        reply = self.client.post("submit", json={
            "run_name": "resumable-demo", "idempotency_token": self.idempotency_token,
            "duration_seconds": self.run_seconds})
        reply.raise_for_status()
        return int(reply.json()["run_id"])

    def get_job_status(self, external_id: Any, context: Any) -> str:
        reply = self.client.get("get", params={"run_id": external_id})
        if reply.status_code == 400 and "does not exist" in reply.text:
            raise JobNotFoundError(reply.json()["message"], external_id=external_id)
        reply.raise_for_status()
        state = reply.json()["state"]
        return f"{state['life_cycle_state']}:{state.get('result_state', '')}".rstrip(":")

    def is_job_active(self, status: Any) -> bool:
        return str(status) in _ACTIVE

    def is_job_succeeded(self, status: Any) -> bool:
        return bool(status == "TERMINATED:SUCCESS")

    def find_job(self, token: str, context: Any) -> Any:
        runs = self.client.get("list").raise_for_status().json()["runs"]
        return next((r["run_id"] for r in runs if r.get("idempotency_token") == token), None)

    def get_job_result(self, external_id: Any, context: Any) -> Any:
        return {"run_id": external_id, "status": self.get_job_status(external_id, context)}


def job_worker(argv: list[str]) -> int:
    """Worker process: ``python -m resumable.demo job-worker STORE_URL RUN_ID SERVER_URL
    SECONDS``."""
    store_url, run_id, server_url, seconds = argv
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    scope = TaskScope("resumable_demo", run_id, "submit_job")
    with connect(store_url) as client:
        result = DemoJobOperator(server_url, float(seconds)).execute(
            {"task_store": client.task_store(scope)})
    print(f"RESULT {json.dumps(result)}", flush=True)
    return 0


def run_demo(url: str | None = None, *, run_seconds: float = 6.0,
             say: Say = print) -> int:
    """Run the three demo parts on the store at ``url`` (default: the configured store)."""
    started = time.monotonic()
    store_url = connect(url).settings.url
    run_id = "demo-" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
    say(f"store: {store_url}")
    results = {
        "job": _run_job_demo(store_url, run_id, run_seconds, say),
        "ingest": run_ingest_demo(store_url, run_id, say),
        "load": run_load_demo(store_url, run_id, say),
    }
    failed = [name for name, ok in results.items() if not ok]
    say("")
    say(f"{'FAILED: ' + ', '.join(failed) if failed else 'all three parts OK'} "
        f"({time.monotonic() - started:.1f} s); see the job with: "
        f"resumable jobs --url {store_url}")
    return 1 if failed else 0


def _run_job_demo(store_url: str, run_id: str, run_seconds: float, say: Say) -> bool:
    """Kill a worker while its job runs and reattach; True if exactly one job ran."""
    say("== ResumableJobMixin: a job whose worker is SIGKILLed while it runs ==")
    with JobServer(pending_seconds=0.5, run_seconds=run_seconds) as server:
        say(f"job server: {server.url} (every submission recorded)")
        args = [store_url, run_id, server.url, str(run_seconds)]
        lines: list[str] = []
        first = start_worker(1, "job-worker", args, say, lines)
        if not wait_for(lambda: bool(server.submissions()) and
                        server.submissions()[0]["state"]["life_cycle_state"] == "RUNNING", 20):
            os.killpg(first.pid, signal.SIGKILL)
            say("the job never started running; giving up")
            return False
        time.sleep(1.0)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        job = server.submissions()[0]["run_id"]
        say(f">>> SIGKILLed worker 1 (pid {first.pid}) while job {job} was RUNNING")
        say(">>> starting worker 2, as the task's retry would")
        second = start_worker(2, "job-worker", args, say, lines)
        code = second.wait(timeout=run_seconds + 30)
        time.sleep(0.2)
        runs = server.submissions()
    results = [json.loads(line[7:]) for line in lines if line.startswith("RESULT ")]
    if code != 0 or not results:
        say(f"worker 2 failed (exit {code})")
        return False
    ok = len(runs) == 1 and results[-1]["run_id"] == job
    say(f"result of worker 2: {results[-1]}")
    say(f"jobs the server received: {len(runs)} (run IDs {[r['run_id'] for r in runs]})")
    say(("OK: the retry reattached to job %s; exactly one job ran" if ok else
         "FAILED: job %s was not reattached") % job)
    return ok

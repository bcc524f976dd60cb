"""``resumable jobs``: one line per tracked job, from the job records in the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resumable._cli import main
from resumable._job_record import meta_key
from store_client import NEVER_EXPIRE, TaskScope, connect
from tests.resumable.fake_jobs import FakeJobs, FakeOperator


def test_jobs_lists_tracked_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    client = connect(url)
    FakeOperator(FakeJobs(script=["SUCCESS"])).execute(
        {"task_store": client.task_store(TaskScope("etl", "run-1", "spark", 2))})
    pending = client.task_store(TaskScope("etl", "run-2", "spark"))
    pending.set(meta_key("other_id"), {"generation": 1, "phase": "submitting", "token": "t"},
                retention=NEVER_EXPIRE)
    client.task_store(TaskScope("etl", "run-3", "x")).set("unrelated", 1)

    assert main(["jobs", "--url", url, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["scope"], r["external_id_key"], r["external_id"], r["status"], r["phase"],
             r["generation"]) for r in rows] == [
        ("etl/run-1/spark[2]", "fake_job_id", 100, "SUCCESS", "finished", 0),
        ("etl/run-2/spark", "other_id", None, None, "submitting", 1)]
    assert rows[0]["age"].endswith("s")

    assert main(["jobs", "--url", url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["SCOPE", "KEY", "JOB", "ID", "STATUS", "PHASE", "GEN", "AGE"]
    assert out[1].split()[:6] == ["etl/run-1/spark[2]", "fake_job_id", "100", "SUCCESS",
                                  "finished", "0"]
    assert out[2].split()[:5] == ["etl/run-2/spark", "other_id", "-", "-", "submitting"]


def test_store_commands_still_work_through_the_entry_point(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["set", "--url", url, "--asset", "a", "k", "1"]) == 0
    assert main(["get", "--url", url, "--asset", "a", "k"]) == 0
    assert capsys.readouterr().out == "1\n"
    assert main(["jobs", "--url", "mysql://x"]) == 2

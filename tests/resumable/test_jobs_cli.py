"""``resumable jobs`` and ``demo``: one line per tracked job; jobs only reads the store."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

import resumable._cli
from resumable._cli import _age, main
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


def test_jobs_never_creates_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (tmp_path / "typo.db", tmp_path / "missing" / "jobs.db"):
        assert main(["jobs", "--url", f"sqlite:///{path}"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("resumable: error: no store at") and err.count("\n") == 1
        assert not path.exists()
    assert not (tmp_path / "missing").exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert main(["jobs", "--url", f"sqlite:///{empty}", "--json"]) == 2
    assert "has no resumable tables" in capsys.readouterr().err
    engine = create_engine(f"sqlite:///{empty}")
    assert inspect(engine).get_table_names() == []  # no tables were created
    engine.dispose()


def test_jobs_prints_what_the_terminal_cannot_encode(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    store = connect(url).task_store(TaskScope("etl", "run-1", "spark"))
    store.set("job_id", "j-\ud800", retention=NEVER_EXPIRE)
    store.set(meta_key("job_id"), {"generation": 2, "phase": "finished", "status": "ok\udcff",
                                   "submitted_at": "2020-01-01T00:00:00"},  # no time zone
              retention=NEVER_EXPIRE)
    assert main(["jobs", "--url", url]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[1].split() == ["etl/run-1/spark", "job_id", "j-\\ud800",
                                           "ok\\udcff", "finished", "2", "-"]
    assert main(["jobs", "--url", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "ok\udcff"


@pytest.mark.parametrize(("since", "age"), [
    ("2024-01-01T00:00:05+00:00", "0s"), ("2024-01-01T00:00:00+00:00", "5s"),
    ("2023-12-31T23:58:00+00:00", "2m5s"), ("2023-12-31T21:58:00+00:00", "2h2m"),
    ("2023-12-30T21:58:00+00:00", "1d2h"), ("2024-01-02T00:00:00+00:00", "0s"),
    ("not a date", "-"), ("2024-01-01T00:00:00", "-"), (None, "-"),
])
def test_job_ages_read_as_people_write_them(since: str | None, age: str) -> None:
    now = datetime(2024, 1, 1, 0, 0, 5, tzinfo=timezone.utc)
    assert _age(since, now) == age


@pytest.mark.parametrize("seconds", ["0", "-1", "nan", "inf", "601", "soon"])
def test_demo_refuses_bad_run_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      seconds: str) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert main(["demo", "--url", url, f"--run-seconds={seconds}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resumable: error: argument --run-seconds: ") and err.count("\n") == 1
    assert not (tmp_path / "demo.db").exists()


def test_console_script_jobs_errors_are_one_line(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("resumable")
    cases: list[tuple[list[str | bytes], int]] = [
        (["jobs", "--url", f"sqlite:///{tmp_path / 'typo.db'}"], 2),
        (["jobs", "--url", "postgresql://u@127.0.0.1:99999/db"], 2),
        (["demo", "--run-seconds", "nan"], 2),
        (["get", "--asset", "a", b"\xff"], 2)]
    for argv, code in cases:
        done = subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "RESUMABLE_CONNECT_TIMEOUT": "2"})
        assert (done.returncode, done.stdout) == (code, ""), argv
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "typo.db").exists()


def test_cli_uses_only_public_store_client_names() -> None:
    source = Path(resumable._cli.__file__).read_text()
    modules = {node.module for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.ImportFrom)}
    modules |= {alias.name for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Import) for alias in node.names}
    store_modules = {m for m in modules if m and m.startswith("store_client")}
    assert store_modules == {"store_client"}


def test_jobs_filters_by_dag_run_and_status(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    client = connect(url)
    for dag, run in (("etl", "r1"), ("etl", "r2"), ("ml", "r1")):
        FakeOperator(FakeJobs(script=["SUCCESS"])).execute(
            {"task_store": client.task_store(TaskScope(dag, run, "spark"))})
    pending = client.task_store(TaskScope("ml", "r2", "spark"))
    pending.set(meta_key("other_id"), {"generation": 0, "phase": "submitting", "token": "t"},
                retention=NEVER_EXPIRE)

    def scopes(*args: str) -> list[str]:
        assert main(["jobs", "--url", url, "--json", *args]) == 0
        return [row["scope"] for row in json.loads(capsys.readouterr().out)]

    assert scopes("--dag", "etl") == ["etl/r1/spark", "etl/r2/spark"]
    assert scopes("--run", "r1") == ["etl/r1/spark", "ml/r1/spark"]
    assert scopes("--dag", "ml", "--run", "r1") == ["ml/r1/spark"]
    assert scopes("--status", "SUCCESS") == ["etl/r1/spark", "etl/r2/spark", "ml/r1/spark"]
    assert scopes("--status", "submitting") == ["ml/r2/spark"]
    assert scopes("--dag", "nope") == []


def test_the_last_status_is_recorded_while_the_job_is_polled(tmp_path: Path) -> None:
    store = connect(f"sqlite:///{tmp_path / 'jobs.db'}").task_store(TaskScope("d", "r", "t"))
    seen: list[object] = []

    class Watching(FakeOperator):
        def get_job_status(self, external_id: object, context: object) -> object:
            status = super().get_job_status(external_id, context)
            seen.append(store.get(meta_key(self.external_id_key)).get("status"))
            return status

    Watching(FakeJobs(script=["PENDING", "RUNNING", "RUNNING", "SUCCESS"])).execute(
        {"task_store": store})
    # each lookup sees the status recorded after the one before it
    assert seen == [None, "PENDING", "RUNNING", "RUNNING"]
    assert store.get(meta_key("fake_job_id"))["status"] == "SUCCESS"

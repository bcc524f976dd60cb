"""The ``resumable`` command: round trips, JSON output, and one-line errors with exit 2.

More in ``test_cli_errors.py`` (user mistakes), ``test_cli_stores.py`` (read-only
commands and unreachable stores) and ``test_cli_output.py`` (what is printed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from store_client import TaskScope, connect
from store_client import cli_main as main

TASK = ["--dag", "d", "--run", "r", "--task", "t"]
EXE = Path(sys.executable).with_name("resumable")


def console(*argv: str | bytes, env: dict[str, str] | None = None, timeout: float = 60,
            encoding: str = "utf-8") -> subprocess.CompletedProcess[str]:
    """Run the real console script; ``env`` is added to this process's environment."""
    return subprocess.run([str(EXE), *argv], env={**os.environ, **(env or {})},
                          capture_output=True, encoding=encoding, timeout=timeout)


def one_line(err: str) -> str:
    """``err`` if it is exactly one line without a traceback (else the test fails)."""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err, err
    return err


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("RESUMABLE_STORE_URL", url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_task_round_trip(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "set", *TASK, "job", '{"id": 5, "tags": ["a"]}')[0] == 0
    assert run(capsys, "set", *TASK, "name", "plain text", "--string")[0] == 0
    assert run(capsys, "get", *TASK, "job") == (0, '{"id": 5, "tags": ["a"]}\n', "")
    assert run(capsys, "get", *TASK, "name") == (0, "plain text\n", "")
    assert run(capsys, "get", *TASK, "name", "--json") == (0, '"plain text"\n', "")
    _, out, _ = run(capsys, "list", *TASK, "--json")
    assert json.loads(out) == {"job": {"id": 5, "tags": ["a"]}, "name": "plain text"}
    assert run(capsys, "list", *TASK)[1] == 'job\t{"id": 5, "tags": ["a"]}\nname\t"plain text"\n'
    assert run(capsys, "delete", *TASK, "name")[0] == 0
    assert connect(url).task_store(TaskScope("d", "r", "t")).items() == {
        "job": {"id": 5, "tags": ["a"]}}


def test_retention_flag(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", *TASK, "forever", "1", "--retention", "never")
    run(capsys, "set", *TASK, "short", "1", "--retention", "90s")
    run(capsys, "set", *TASK, "default", "1")
    later = datetime.now(timezone.utc) + timedelta(seconds=91)
    with connect(url, clock=lambda: later) as client:
        assert client.task_store(TaskScope("d", "r", "t")).items() == {"forever": 1,
                                                                       "default": 1}
    much_later = later + timedelta(days=31)
    with connect(url, clock=lambda: much_later) as client:
        assert client.task_store(TaskScope("d", "r", "t")).items() == {"forever": 1}


def test_map_index_and_clear(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    for i in ("0", "1"):
        run(capsys, "set", *TASK, "--map-index", i, "k", i)
    assert run(capsys, "get", *TASK, "--map-index", "1", "k")[1] == "1\n"
    run(capsys, "clear", *TASK, "--map-index", "0")
    assert run(capsys, "get", *TASK, "--map-index", "0", "k")[0] == 1
    run(capsys, "clear", *TASK, "--all-map-indices")
    assert run(capsys, "get", *TASK, "--map-index", "1", "k")[0] == 1


def test_asset_round_trip(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "set", "--asset", "orders", "cursor", "41", "--json") == (
        0, '{"key": "cursor", "stored": true}\n', "")
    assert run(capsys, "get", "--asset", "orders", "cursor") == (0, "41\n", "")
    run(capsys, "clear", "--asset", "orders")
    assert run(capsys, "list", "--asset", "orders", "--json")[1] == "{}\n"


def test_cleanup_reports_rows(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    with connect(url, clock=lambda: past) as client:
        client.task_store(TaskScope("d", "r", "t", 3)).set("old", 1, retention=timedelta(1))
    code, out, _ = run(capsys, "cleanup", "--dry-run")
    assert (code, out) == (0, "d/r/t[3]\told\nwould delete 1 expired row\n")
    assert run(capsys, "cleanup", "--batch-size", "10")[1] == "deleted 1 expired row\n"


def test_missing_key_exits_1(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set", *TASK, "other", "1")  # the store exists; only the key is missing
    code, out, err = run(capsys, "get", *TASK, "nope")
    assert (code, out) == (1, "")
    assert err == "resumable: key 'nope' not found in d/r/t\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["set", *TASK, "k", "hello"], "VALUE 'hello' is not JSON"),
    (["set", *TASK, "k", "NaN"], "NaN or infinity"),
    (["set", *TASK, "k", "null"], "is None"),
    (["set", *TASK, "", "1"], "key must not be empty"),
    (["set", *TASK, "k" * 251, "1"], "over the limit of 250"),
    (["set", *TASK, "k", "1", "--retention", "5x"], "--retention '5x'"),
    (["set", "--asset", "a", "k", "1", "--retention", "1d"], "task stores only"),
    (["get", "--dag", "d", "--run", "r", "k"], "needs --dag, --run and --task"),
    (["get", *TASK, "--asset", "a", "k"], "either --asset or"),
    (["get", *TASK, "--map-index", "x", "k"], "invalid int value: 'x'"),
    (["get", *TASK, "--map-index", "-3", "k"], "map_index must be -1"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["cleanup", "--batch-size", "-1"], "--batch-size must be 0 or more"),
    (["list", "--asset", "a", "--url", "mysql://x/y"], "url='mysql://x/y'"),
    ([], "required: COMMAND"),
])
def test_user_mistakes_print_one_line_and_exit_2(
    url: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("resumable: error: ")
    assert message in err
    assert connect(url).task_store(TaskScope("d", "r", "t")).items() == {}


def test_bad_environment_names_the_variable(url: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_MAX_VALUE_BYTES", "lots")
    code, _, err = run(capsys, "list", "--asset", "a")
    assert code == 2 and "RESUMABLE_MAX_VALUE_BYTES='lots'" in err


def test_console_script_has_no_traceback(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("resumable")
    env = {**os.environ, "RESUMABLE_STORE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/x"}
    done = subprocess.run([str(exe), "list", "--asset", "a"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3  # unreachable: 3, not the 1 of a missing key
    assert done.stderr.startswith("resumable: StoreUnavailableError: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    done = subprocess.run([str(exe), "set", "--asset", "a", "k", "{bad"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr.count("\n")) == (2, 1)

"""``resumable``: printing never fails, whatever a value holds and whatever stdout encodes.

A value can hold a lone surrogate when written through the Python API (JSON carries
``"\\ud800"``; UTF-8 cannot): ``get`` and ``list`` print it escaped, and their JSON
output stays valid JSON. The same holds for any non-ASCII text on a stdout that is not
UTF-8. A closed stdout (``resumable list | head``) ends the command quietly.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from store_client import AssetScope, TaskScope, cli_main, connect
from store_client._cli_output import emit, emit_json
from tests.store_client.test_cli import EXE, TASK, console, one_line

ODD: dict[str, Any] = {"text": "x\ud800y", "nested": ["caf\u00e9", {"k": "\udcff"}]}


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store holding ``ODD`` values in task scope d/r/t and asset ``a``."""
    url = f"sqlite:///{tmp_path / 'odd.db'}"
    monkeypatch.setenv("RESUMABLE_STORE_URL", url)
    with connect(url) as client:
        for store in (client.task_store(TaskScope("d", "r", "t")),
                      client.asset_store(AssetScope(name="a"))):
            store.set("text", ODD["text"])
            store.set("nested", ODD["nested"])
            store.set("plain", "caf\u00e9")
    return url


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = cli_main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("scope", [TASK, ["--asset", "a"]], ids=["task", "asset"])
def test_values_that_utf8_cannot_hold_print_escaped(
        url: str, capsys: pytest.CaptureFixture[str], scope: list[str]) -> None:
    assert run(capsys, ["get", *scope, "text"]) == (0, "x\\ud800y\n", "")
    assert run(capsys, ["get", *scope, "plain"]) == (0, "caf\u00e9\n", "")
    code, out, err = run(capsys, ["get", *scope, "text", "--json"])
    assert (code, err) == (0, "") and json.loads(out) == ODD["text"]
    code, out, err = run(capsys, ["get", *scope, "nested", "--json"])
    assert (code, err) == (0, "") and json.loads(out) == ODD["nested"]
    code, out, err = run(capsys, ["list", *scope])
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["nested", "plain", "text"]
    assert [json.loads(line.split("\t")[1]) for line in lines] == [
        ODD["nested"], "caf\u00e9", ODD["text"]]
    code, out, err = run(capsys, ["list", *scope, "--json"])
    assert (code, err) == (0, "")
    assert json.loads(out) == {**ODD, "plain": "caf\u00e9"}


def test_console_script_prints_escaped_values(url: str) -> None:
    done = console("get", *TASK, "text")
    assert (done.returncode, done.stdout, done.stderr) == (0, "x\\ud800y\n", "")
    done = console("list", "--asset", "a", "--json")
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout)["nested"] == ODD["nested"]


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_stdout_that_is_not_utf8(url: str, encoding: str) -> None:
    env = {"PYTHONIOENCODING": encoding}
    done = console("get", *TASK, "nested", env=env, encoding=encoding)  # printed as JSON
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == ODD["nested"]
    done = console("list", *TASK, "--json", env=env, encoding=encoding)
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {**ODD, "plain": "caf\u00e9"}
    done = console("get", *TASK, "plain", env=env, encoding=encoding)
    expected = "caf\\xe9\n" if encoding == "ascii" else "caf\u00e9\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")
    done = console("get", *TASK, "caf\u00e9", env=env, encoding=encoding)  # key in a message
    assert done.returncode == 1 and "Traceback" not in one_line(done.stderr)


def test_emit_escapes_what_the_stream_cannot_encode() -> None:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="ascii", newline="")
    emit("caf\u00e9 \ud800", stream=stream)
    stream.flush()
    assert stream.buffer.getvalue() == b"caf\\xe9 \\ud800\n"


def test_emit_json_stays_json(capsys: pytest.CaptureFixture[str]) -> None:
    emit_json(ODD, prefix="k\t")
    out = capsys.readouterr().out
    assert out.startswith("k\t") and json.loads(out[2:]) == ODD


def test_a_closed_stdout_ends_quietly(url: str) -> None:
    with connect(url) as client:
        store = client.asset_store("big")
        for i in range(200):
            store.set(f"key-{i:04}", "x" * 200)
    with subprocess.Popen([str(EXE), "list", "--asset", "big"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=os.environ.copy()) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader goes away before the command writes
        err = proc.stderr.read()
        code = proc.wait(timeout=60)
    assert (code, err) == (141, b"")

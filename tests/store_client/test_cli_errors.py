"""``resumable``: every user mistake is one line on stderr and exit 2, never a traceback.

Each case runs in-process through ``main([...])``; a sample runs through the real
console script too. A mistake is found before anything connects: a write command with
a bad argument does not create the store.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from store_client import MAX_MAP_INDEX, cli_main
from tests.store_client.test_cli import TASK, console, one_line

BIG = "9" * 30


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store file of the test; ``RESUMABLE_STORE_URL`` points at it (not created)."""
    path = tmp_path / "cli.db"
    monkeypatch.setenv("RESUMABLE_STORE_URL", f"sqlite:///{path}")
    return path


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = cli_main(argv)
    out, err = capsys.readouterr()
    return code, out, err


MISTAKES: list[tuple[list[str], str]] = [
    # retention: malformed, zero, past the year 9999 (and past timedelta's own range)
    (["set", *TASK, "k", "1", "--retention", "5x"], "--retention '5x': use a whole number"),
    (["set", *TASK, "k", "1", "--retention", "12"], "--retention '12'"),
    (["set", *TASK, "k", "1", "--retention=-1d"], "--retention '-1d'"),
    (["set", *TASK, "k", "1", "--retention", "1.5h"], "--retention '1.5h'"),
    (["set", *TASK, "k", "1", "--retention", "0"], "--retention '0'"),
    (["set", *TASK, "k", "1", "--retention", "0s"], "must be more than 0"),
    (["set", *TASK, "k", "1", "--retention", "000d"], "must be more than 0"),
    (["set", *TASK, "k", "1", "--retention", "1000000000d"],
     "--retention '1000000000d' reaches past the year 9999"),
    (["set", *TASK, "k", "1", "--retention", "3000000d"],
     "--retention '3000000d' reaches past the year 9999"),
    (["set", *TASK, "k", "1", "--retention", "100000000h"],
     "--retention '100000000h' (4166666d16h) reaches past the year 9999"),
    (["set", *TASK, "k", "1", "--retention", f"{BIG}s"], "reaches past the year 9999"),
    (["set", *TASK, "k", "1", "--retention", "9" * 5000 + "m"], "reaches past the year 9999"),
    (["set", "--asset", "a", "k", "1", "--retention", "1d"], "task stores only"),
    # map index and batch size: argparse accepts any int, the stores take 32 bits
    (["get", *TASK, "--map-index", "99999999999", "k"],
     f"--map-index 99999999999: map_index must be -1 (not mapped) or 0 to {MAX_MAP_INDEX}"),
    (["set", *TASK, "--map-index", str(MAX_MAP_INDEX + 1), "k", "1"], "map_index must be -1"),
    (["list", *TASK, "--map-index", "-2"], "map_index must be -1"),
    (["get", *TASK, "--map-index", "x", "k"], "invalid int value: 'x'"),
    (["get", *TASK, "--map-index", "9" * 5000, "k"], "invalid int value"),
    (["get", "--asset", "a", "--map-index", "3", "k"], "either --asset or"),
    (["cleanup", "--batch-size", "99999999999999"],
     "--batch-size must be 0 or more and at most 2147483647, got 99999999999999"),
    (["cleanup", "--dry-run", "--batch-size", str(2**31)], "at most 2147483647"),
    (["cleanup", "--batch-size", "-1"], "--batch-size must be 0 or more"),
    # URLs: bad port, unparseable, unsupported, malformed SQLite
    (["set", "--asset", "a", "k", "1", "--url", "postgresql://u@127.0.0.1:99999/db"],
     "the port must be a number from 1 to 65535"),
    (["list", "--asset", "a", "--url", "postgresql://u@127.0.0.1:abc/db"],
     "the port must be a number from 1 to 65535"),
    (["list", "--asset", "a", "--url", "postgresql+psycopg://u@127.0.0.1:0/db"],
     "the port must be"),
    (["list", "--asset", "a", "--url", "postgresql://[::1/db"], "url="),
    (["list", "--asset", "a", "--url", "https://127.0.0.1:99999/api/v2"], "not a valid URL"),
    (["list", "--asset", "a", "--url", "http://airflow.example"], "not an Airflow REST API"),
    (["list", "--asset", "a", "--url", "mysql://x/y"], "url='mysql://x/y'"),
    (["set", "--asset", "a", "k", "1", "--url", "no url at all"], "is not a store URL"),
    (["set", "--asset", "a", "k", "1", "--url", ""], "non-empty URL"),
    (["set", "--asset", "a", "k", "1", "--url", "sqlite://relative.db"], "three slashes"),
    # JSON values: where the text breaks
    (["set", *TASK, "k", "hello"],
     "VALUE 'hello' is not JSON: Expecting value at line 1 column 1; to store text, quote "
     "it ('\"hello\"') or pass --string"),
    (["set", *TASK, "k", '{"a": 1 "b": 2}'],
     "is not JSON: Expecting ',' delimiter at line 1 column 9"),
    (["set", *TASK, "k", '[1,\n 2,,\n 3]'], "Expecting value at line 2 column 4"),
    (["set", *TASK, "k", '{"a": 1'], "at line 1 column 8"),
    (["set", *TASK, "k", "[" * 100_000 + "]" * 100_000], "nests lists and objects too deeply"),
    (["set", *TASK, "k", "[" * 300 + "]" * 300], "nests lists and dicts too deeply"),
    (["set", *TASK, "k", "1" * 5000], "holds a number of more than"),
    (["set", *TASK, "k", "NaN"], "NaN or infinity"),
    (["set", *TASK, "k", "[Infinity]"], "NaN or infinity"),
    (["set", *TASK, "k", "null"], "is None"),
    # keys and scopes
    (["set", *TASK, "", "1"], "key must not be empty"),
    (["set", *TASK, "k" * 251, "1"], "over the limit of 250"),
    (["set", *TASK, "a\x00b", "1"], "contains a NUL character"),
    (["delete", "--dag", "", "--run", "r", "--task", "t", "k"], "--dag must not be empty"),
    (["clear", "--dag", "d", "--run", "r\x00", "--task", "t"], "--run"),
    (["set", "--asset", "x" * 1501, "k", "1"], "--asset is 1501 characters"),
    (["get", "--dag", "d", "--run", "r", "k"], "needs --dag, --run and --task"),
    (["get", *TASK, "--asset", "a", "k"], "either --asset or"),
    # the command line itself
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["get", *TASK], "the following arguments are required: key"),
    (["set", *TASK, "k", "1", "--bogus"], "unrecognized arguments: --bogus"),
    ([], "required: COMMAND"),
    # arguments that are not UTF-8 (as Python hands over undecodable bytes)
    (["get", "--dag", "caf\udce9", "--run", "r", "--task", "t", "k"],
     "argument 3 (after --dag) is not valid UTF-8: b'caf\\xe9'"),
    (["set", *TASK, "k", '"\udcff"'], "argument 9 is not valid UTF-8"),
    (["get", "--asset=\udcc3", "k"], "the value of --asset is not valid UTF-8"),
    (["list", "\ud800"], "argument 2 is not valid UTF-8: '\\ud800'"),
]


@pytest.mark.parametrize(("argv", "message"), MISTAKES,
                         ids=[f"{i}-{a[0] if a else 'none'}" for i, (a, _) in enumerate(MISTAKES)])
def test_user_mistakes_print_one_line_and_exit_2(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, argv)
    assert (code, out) == (2, "")
    assert one_line(err).startswith("resumable: error: ")
    assert message in err
    assert "timedelta(" not in err
    assert not db.exists()  # found before anything connected: no store was created


def test_accepted_retentions(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for text in ("90s", "15m", "12h", "7d", " 7d ", "never", "NEVER", "2900000d"):
        assert run(capsys, ["set", *TASK, "k", "1", "--retention", text]) == (0, "", ""), text


def test_bounds_are_accepted(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, ["set", *TASK, "--map-index", str(MAX_MAP_INDEX), "k", "1"])[0] == 0
    assert run(capsys, ["get", *TASK, "--map-index", str(MAX_MAP_INDEX), "k"])[:2] == (0, "1\n")
    assert run(capsys, ["cleanup", "--dry-run", "--batch-size", str(2**31 - 1)])[0] == 0


def test_bad_environment_is_one_line(db: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value, message in [
        ("RESUMABLE_MAX_VALUE_BYTES", "lots", "RESUMABLE_MAX_VALUE_BYTES='lots'"),
        ("RESUMABLE_DEFAULT_RETENTION_DAYS", "9999999", "past the year 9999"),
        ("RESUMABLE_CONNECT_TIMEOUT", "inf", "RESUMABLE_CONNECT_TIMEOUT"),
        ("RESUMABLE_STORE_URL", "sqlite:///caf\udce9.db", "RESUMABLE_STORE_URL is not valid "
         "UTF-8: b'sqlite:///caf\\xe9.db'"),
    ]:
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            code, out, err = run(capsys, ["set", "--asset", "a", "k", "1"])
        assert (code, out) == (2, "") and message in one_line(err), (name, err)
    assert not db.exists()


def _extension(error: BaseException) -> Any:
    def extend(sub: Any, common: argparse.ArgumentParser) -> None:
        def fail(args: argparse.Namespace) -> int:
            raise error

        sub.add_parser("fail", parents=[common]).set_defaults(handler=fail)

    return extend


def test_a_bug_is_one_line_exit_4_with_a_hint(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESUMABLE_DEBUG", raising=False)
    assert cli_main(["fail"], extend=_extension(RuntimeError("boom\nsecond line"))) == 4
    out, err = capsys.readouterr()
    assert out == ""
    assert one_line(err) == ("resumable: internal error: RuntimeError: boom second line "
                             "(this is a bug; set RESUMABLE_DEBUG=1 to see the traceback)\n")
    monkeypatch.setenv("RESUMABLE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        cli_main(["fail"], extend=_extension(RuntimeError("boom")))


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["fail"], extend=_extension(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "resumable: interrupted\n"


def test_help_lists_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status:" in out
    for line in ("1    get: the key is not in the store", "2    a user mistake",
                 "3    the store is unreachable or failed", "4    an unexpected error"):
        assert line in out
    assert cli_main(["get", "--help"]) == 0
    assert "3    the store is unreachable" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["set", *TASK, "k", "1", "--retention", "1000000000d"], "reaches past the year 9999"),
    (["get", *TASK, "--map-index", "99999999999", "k"], "map_index must be -1"),
    (["cleanup", "--batch-size", "99999999999999"], "at most 2147483647"),
    (["list", "--asset", "a", "--url", "postgresql://u@127.0.0.1:99999/db"], "the port"),
    (["set", *TASK, "k", '{"a" 1}'], "Expecting ':' delimiter at line 1 column 6"),
])
def test_console_script_mistakes(tmp_path: Path, argv: list[str], message: str) -> None:
    done = console(*argv, env={"RESUMABLE_STORE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert (done.returncode, done.stdout) == (2, "")
    assert message in one_line(done.stderr)
    assert not (tmp_path / "x.db").exists()


def test_console_script_refuses_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    env = {"RESUMABLE_STORE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = console("set", "--dag", b"caf\xe9", "--run", "r", "--task", "t", "k", "1", env=env)
    assert (done.returncode, done.stdout) == (2, "")
    assert one_line(done.stderr) == ("resumable: error: argument 3 (after --dag) is not valid "
                                     "UTF-8: b'caf\\xe9'; pass UTF-8 text\n")
    done = console("set", "--asset", "a", b"\xff\xfe", "1", env=env)
    assert "argument 4 is not valid UTF-8: b'\\xff\\xfe'" in one_line(done.stderr)
    assert not (tmp_path / "x.db").exists()


"""``resumable``: read-only commands never create a store; exit 1, 2 and 3 mean different
things (missing key, a store that does not exist, a store that is unreachable or failed).
"""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from store_client import cli_main
from tests.store_client.test_cli import TASK, console, one_line
from tests.support.postgres import PostgresServer

READ_ONLY = [
    ["get", *TASK, "k"],
    ["get", "--asset", "a", "k", "--json"],
    ["list", *TASK],
    ["list", "--asset", "a", "--json"],
    ["cleanup", "--dry-run"],
    ["cleanup", "--dry-run", "--json", "--batch-size", "10"],
]
WRITES = [
    ["set", *TASK, "k", "1"],
    ["delete", "--asset", "a", "k"],
    ["clear", *TASK, "--all-map-indices"],
    ["cleanup"],
]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = cli_main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def closed_port() -> int:
    """A TCP port of 127.0.0.1 on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_CONNECT_TIMEOUT", "2")


@pytest.mark.parametrize("argv", READ_ONLY, ids=" ".join)
def test_read_only_commands_never_create_a_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    for path in (tmp_path / "typo.db", tmp_path / "no" / "such" / "folder" / "store.db"):
        code, out, err = run(capsys, [*argv, "--url", f"sqlite:///{path}"])
        assert (code, out) == (2, "")
        assert one_line(err) == (
            f"resumable: error: no store at {str(path)!r}: the file does not exist (check the "
            "URL or RESUMABLE_STORE_URL; nothing was created)\n")
        assert not path.exists()
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("argv", WRITES, ids=" ".join)
def test_write_commands_create_the_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    path = tmp_path / "new" / "store.db"
    assert run(capsys, [*argv, "--url", f"sqlite:///{path}"])[0] == 0
    assert path.is_file()
    assert run(capsys, ["list", "--asset", "a", "--url", f"sqlite:///{path}"]) == (0, "", "")


def test_default_store_is_not_created_by_reading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESUMABLE_STORE_URL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    code, _, err = run(capsys, ["list", "--asset", "a"])
    assert code == 2 and "no store at" in one_line(err)
    assert not (tmp_path / "state").exists()
    assert run(capsys, ["set", "--asset", "a", "k", '"v"'])[0] == 0
    assert run(capsys, ["list", "--asset", "a"]) == (0, 'k\t"v"\n', "")
    assert (tmp_path / "state" / "resumable" / "store.db").is_file()


def test_an_empty_file_is_not_made_a_store_by_reading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    for argv in READ_ONLY:
        code, _, err = run(capsys, [*argv, "--url", f"sqlite:///{path}"])
        assert code == 2 and "has no resumable tables" in one_line(err), argv
    assert inspect(create_engine(f"sqlite:///{path}")).get_table_names() == []


def test_exit_statuses_tell_a_missing_key_from_a_missing_or_failed_store(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fast_failures: None) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert run(capsys, ["set", *TASK, "k", "1", "--url", url])[0] == 0
    assert run(capsys, ["get", *TASK, "k", "--url", url]) == (0, "1\n", "")
    code, out, err = run(capsys, ["get", *TASK, "nope", "--url", url])
    assert (code, out, err) == (1, "", "resumable: key 'nope' not found in d/r/t\n")
    code, _, err = run(capsys, ["get", *TASK, "k", "--url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert code == 2 and err.startswith("resumable: error: no store at")
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database\n" * 100)
    code, _, err = run(capsys, ["get", *TASK, "k", "--url", f"sqlite:///{garbage}"])
    assert code == 3
    assert one_line(err).startswith("resumable: StoreBackendError: ")


@pytest.mark.parametrize("argv", [["get", *TASK, "k"], ["list", "--asset", "a"],
                                  ["set", *TASK, "k", "1"], ["cleanup", "--dry-run"]],
                         ids=" ".join)
def test_unreachable_postgresql_exits_3(capsys: pytest.CaptureFixture[str],
                                        fast_failures: None, argv: list[str]) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/db"
    code, out, err = run(capsys, [*argv, "--url", url])
    assert (code, out) == (3, "")
    assert one_line(err).startswith("resumable: StoreUnavailableError: store ")
    assert "Connection refused" in err


def test_unreachable_airflow_api_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/v2"
    code, out, err = run(capsys, ["get", "--asset", "a", "k", "--url", url])
    assert (code, out) == (3, "")
    assert one_line(err).startswith("resumable: StoreUnavailableError: ")


def test_console_script_unreachable_postgresql(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://u:secret@127.0.0.1:{closed_port()}/db"
    done = console("list", *TASK, "--url", url, env={"RESUMABLE_CONNECT_TIMEOUT": "2"})
    assert (done.returncode, done.stdout) == (3, "")
    assert one_line(done.stderr).startswith("resumable: StoreUnavailableError: ")
    assert "secret" not in done.stderr


def test_console_script_missing_store_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    for argv in (["get", *TASK, "k"], ["list", "--asset", "a"], ["cleanup", "--dry-run"]):
        done = console(*argv, "--url", f"sqlite:///{path}")
        assert (done.returncode, done.stdout) == (2, "")
        assert "no store at" in one_line(done.stderr)
        assert not path.exists()


def test_postgresql_database_without_tables_is_not_made_a_store_by_reading(
        postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres_server.create_database(f"cli_{uuid.uuid4().hex[:12]}")
    for argv in READ_ONLY:
        code, out, err = run(capsys, [*argv, "--url", url])
        assert (code, out) == (2, ""), argv
        assert "the database has no resumable tables" in one_line(err)
    engine = create_engine(url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert run(capsys, ["set", "--asset", "a", "k", "[1]", "--url", url])[0] == 0
    assert run(capsys, ["get", "--asset", "a", "k", "--url", url]) == (0, "[1]\n", "")
    assert run(capsys, ["get", "--asset", "a", "nope", "--url", url])[0] == 1


def test_a_folder_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (READ_ONLY[0], WRITES[0]):
        code, out, err = run(capsys, [*argv, "--url", f"sqlite:///{tmp_path}"])
        assert (code, out) == (2, "")
        assert "exists but is not a file" in one_line(err)

"""connect() refuses, up front, every setting that would break a later call; and keeps
secrets, files and the store file's identity safe."""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

import pytest

from store_client import (
    ConfigurationError,
    RetryPolicy,
    StoreUnavailableError,
    TaskScope,
    connect,
    redact_url,
)

SCOPE = TaskScope("dag", "run", "task")
SECRET = "s3cr3t-pw"


@pytest.mark.parametrize(("kwargs", "env", "message"), [
    ({"default_retention_days": 10**9}, {}, "default_retention_days: 1000000000 days"),
    ({"default_retention_days": 3_000_000}, {}, "past the year 9999"),
    ({}, {"RESUMABLE_DEFAULT_RETENTION_DAYS": "99999999999"},
     "RESUMABLE_DEFAULT_RETENTION_DAYS"),
    ({"connect_timeout": 0}, {}, "connect_timeout=0 must be more than 0"),
    ({"statement_timeout": float("nan")}, {}, "statement_timeout=nan"),
    ({"lock_timeout": float("inf")}, {}, "lock_timeout=inf"),
    ({"lock_timeout": "5"}, {}, "lock_timeout must be a number"),
    ({"connect_timeout": True}, {}, "connect_timeout must be a number"),
    ({}, {"RESUMABLE_STATEMENT_TIMEOUT": "soon"}, "RESUMABLE_STATEMENT_TIMEOUT='soon'"),
    ({}, {"RESUMABLE_LOCK_TIMEOUT": "-1"}, "RESUMABLE_LOCK_TIMEOUT='-1'"),
    ({"create": "yes"}, {}, "create must be True or False"),
    ({"retry": 3}, {}, "retry must be a RetryPolicy"),
    ({"clock": "now"}, {}, "clock must be callable"),
])
def test_settings_that_would_break_later_calls_fail_in_connect(
        monkeypatch: pytest.MonkeyPatch, kwargs: dict[str, object], env: dict[str, str],
        message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as info:
        connect("memory://", **kwargs)  # type: ignore[arg-type]
    assert message in str(info.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"attempts": 0}, "RetryPolicy.attempts"),
    ({"attempts": 2.5}, "RetryPolicy.attempts"),
    ({"initial_wait": -1}, "RetryPolicy.initial_wait"),
    ({"max_wait": float("nan")}, "RetryPolicy.max_wait"),
    ({"deadline": float("inf")}, "RetryPolicy.deadline"),
])
def test_a_bad_retry_policy_is_refused_on_construction(kwargs: dict[str, object],
                                                      message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://u@127.0.0.1:99999/db",
    "postgresql+psycopg://u@127.0.0.1:abc/db",
    "postgresql+psycopg://u@127.0.0.1:0/db",
    "sqlite:/relative.db",
    "sqlite://host/x.db",
])
def test_bad_database_urls_fail_in_connect(url: str) -> None:
    with pytest.raises(ConfigurationError):
        connect(url)


def test_a_store_path_that_cannot_be_made_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for url in (f"sqlite:///{blocker}/store.db", f"sqlite:///{tmp_path}"):
        with pytest.raises(ConfigurationError, match=str(tmp_path)):
            connect(url)


def test_tilde_in_a_sqlite_path_is_the_home_folder(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with connect("sqlite:///~/state/store.db") as client:
        client.task_store(SCOPE).set("k", 1)
        assert client.settings.url == f"sqlite:///{tmp_path}/state/store.db"
    assert (tmp_path / "state" / "store.db").is_file()
    assert not Path("~").exists()


def test_create_false_never_creates_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "store.db"
    with pytest.raises(ConfigurationError, match="no store at"):
        connect(f"sqlite:///{missing}", create=False)
    assert not missing.parent.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with connect(f"sqlite:///{empty}", create=False) as client, \
            pytest.raises(ConfigurationError, match="no resumable tables"):
        client.task_store(SCOPE).get("k")
    with connect(f"sqlite:///{empty}") as client:
        client.task_store(SCOPE).set("k", 1)
    with connect(f"sqlite:///{empty}", create=False) as client:
        assert client.task_store(SCOPE).get("k") == 1


def test_create_false_on_an_empty_postgres_database(postgres_server: object) -> None:
    url = postgres_server.create_database("never_written")  # type: ignore[attr-defined]
    with connect(url, create=False) as client, \
            pytest.raises(ConfigurationError, match="no resumable tables"):
        client.scan_tasks()


def test_the_store_folder_and_file_are_private(tmp_path: Path) -> None:
    os.umask(0o022)
    folder = tmp_path / "state" / "resumable"
    with connect(f"sqlite:///{folder / 'store.db'}") as client:
        client.task_store(SCOPE).set("k", 1)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():  # the file and its -wal/-shm companions
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("how", ["deleted", "replaced", "folder deleted"])
def test_a_write_after_the_file_was_deleted_or_replaced_is_not_lost(
        tmp_path: Path, how: str) -> None:
    path = tmp_path / "state" / "store.db"
    url = f"sqlite:///{path}"
    with connect(url) as client:
        ts = client.task_store(SCOPE)
        ts.set("before", 1)
        if how == "folder deleted":
            shutil.rmtree(path.parent)
        else:
            path.unlink()
        if how == "replaced":
            with connect(f"sqlite:///{tmp_path / 'other.db'}") as other:
                other.task_store(SCOPE).set("other", 2)
            (tmp_path / "other.db").rename(path)
        ts.set("after", 3)  # acknowledged...
        assert client.asset_store("a").compare_and_set("c", None, 4)
    with connect(url) as fresh:  # ...so a new client must read it
        assert fresh.task_store(SCOPE).get("after") == 3
        assert fresh.asset_store("a").get("c") == 4


def test_no_secret_in_any_repr_message_or_log(caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql+psycopg://user:{SECRET}@127.0.0.1:1/db"
    client = connect(url, connect_timeout=2,
                     retry=RetryPolicy(attempts=2, initial_wait=0.01, max_wait=0.01))
    texts = [repr(client), repr(client.settings), str(client.settings)]
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreUnavailableError) as info:
        client.task_store(SCOPE).get("k")
    texts += [str(info.value), caplog.text]
    for bad in (f"postgresql+psycopg://user:{SECRET}@127.0.0.1:99999/db",
                f"postgresql+psycopg://user:{SECRET}@127.0.0.1:x/db",
                f"mysql://user:{SECRET}@h/db",
                f"https://user:{SECRET}@airflow/api/v2",
                f"https://airflow/api/v2?token={SECRET}"):
        with pytest.raises(ConfigurationError) as bad_info:
            connect(bad)
        texts.append(str(bad_info.value))
    query_secret = connect(f"postgresql+psycopg://user@h/db?password={SECRET}")
    texts += [repr(query_secret), repr(query_secret.settings)]
    assert all(SECRET not in text for text in texts), [t for t in texts if SECRET in t]
    assert "user:***@127.0.0.1:1" in repr(client)


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://u:pw@h:5432/db", "postgresql+psycopg://u:***@h:5432/db"),
    ("postgresql://u@h/db?password=pw&sslmode=require",
     "postgresql://u@h/db?password=***&sslmode=require"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ("postgresql://u:pw@h:bad/db", "postgresql://u:***@h:bad/db"),
    ("postgresql://u:pw@[::1/db", "postgresql://<unparseable URL>"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown

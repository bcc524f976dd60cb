"""connect() settings: keywords, environment variables, defaults, and errors that name them."""

from __future__ import annotations

from pathlib import Path

import pytest

from store_client import ConfigurationError, StoreError, connect
from store_client._config import default_store_path, resolve_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("RESUMABLE_STORE_URL", "RESUMABLE_DEFAULT_RETENTION_DAYS",
                "RESUMABLE_MAX_VALUE_BYTES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    settings = resolve_settings()
    assert settings.url == f"sqlite:///{tmp_path}/resumable/store.db"
    assert (settings.default_retention_days, settings.max_value_bytes) == (30, 65536)


def test_default_store_is_a_sqlite_file_in_wal_mode(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.delenv("RESUMABLE_STORE_URL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    with connect() as client:
        client.asset_store("a").set("k", 1)
        with client.backend.engine.connect() as conn:  # type: ignore[attr-defined]
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "state" / "resumable" / "store.db").is_file()


def test_home_state_dir_without_xdg(monkeypatch: pytest.MonkeyPatch) -> None:
    path = default_store_path({})
    assert path.parts[-3:] == ("state", "resumable", "store.db") or "resumable" in path.parts


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_STORE_URL", "memory://")
    monkeypatch.setenv("RESUMABLE_DEFAULT_RETENTION_DAYS", "7")
    monkeypatch.setenv("RESUMABLE_MAX_VALUE_BYTES", " 0 ")
    s = resolve_settings()
    assert (s.url, s.default_retention_days, s.max_value_bytes) == ("memory://", 7, 0)
    s = resolve_settings("memory://", default_retention_days=1, max_value_bytes=10)
    assert (s.default_retention_days, s.max_value_bytes) == (1, 10)


@pytest.mark.parametrize(("var", "value", "message"), [
    ("RESUMABLE_DEFAULT_RETENTION_DAYS", "-1", "RESUMABLE_DEFAULT_RETENTION_DAYS='-1'"),
    ("RESUMABLE_DEFAULT_RETENTION_DAYS", "thirty", "RESUMABLE_DEFAULT_RETENTION_DAYS='thirty'"),
    ("RESUMABLE_MAX_VALUE_BYTES", "1.5", "RESUMABLE_MAX_VALUE_BYTES='1.5'"),
    ("RESUMABLE_MAX_VALUE_BYTES", "-5", "RESUMABLE_MAX_VALUE_BYTES='-5'"),
    ("RESUMABLE_STORE_URL", "mysql://x/y", "RESUMABLE_STORE_URL='mysql://x/y'"),
    ("RESUMABLE_STORE_URL", "not a url", "RESUMABLE_STORE_URL"),
])
def test_bad_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch, var: str,
                                            value: str, message: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigurationError) as info:
        connect(None if var == "RESUMABLE_STORE_URL" else "memory://")
    assert message in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, StoreError)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"default_retention_days": -1}, "default_retention_days=-1"),
    ({"default_retention_days": 1.5}, "default_retention_days must be an int"),
    ({"default_retention_days": True}, "default_retention_days must be an int"),
    ({"max_value_bytes": -1}, "max_value_bytes=-1"),
    ({"max_value_bytes": "10"}, "max_value_bytes must be an int"),
])
def test_bad_keywords_name_the_keyword(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        connect("memory://", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["", "   ", "ftp://x", "sqlite", "redis://localhost"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigurationError, match="url"):
        connect(url)


def test_an_airflow_api_url_builds_the_http_backend() -> None:
    from store_client._airflow_http import AirflowHttpBackend

    with connect("https://airflow.example/api/v2", token="t") as client:
        assert isinstance(client.backend, AirflowHttpBackend)


def test_keyword_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_DEFAULT_RETENTION_DAYS", "not-a-number")
    assert connect("memory://", default_retention_days=3).settings.default_retention_days == 3

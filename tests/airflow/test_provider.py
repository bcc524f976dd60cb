"""The installed package is an Airflow provider: the real ``airflow providers`` CLI lists it.

Airflow 3.3.2 discovers providers through the ``apache_airflow_provider`` entry point,
checks the returned dict against its schema and requires ``package-name`` to equal the
distribution's name; a bad dict would break ``airflow providers`` for every provider, so
the commands are run for real, in the session's Airflow home, in their own process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import Any

from resumable._provider_info import get_provider_info
from tests.support.airflow_env import AirflowHome


def _providers(home: AirflowHome, *command: str) -> list[dict[str, Any]]:
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "providers", *command, "-o", "json"],
                          env=home.env(), capture_output=True, text=True, timeout=180,
                          start_new_session=True)
    assert done.returncode == 0, done.stdout + done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return [row for row in rows if row["package_name"] == "resumable"]


def test_the_entry_point_names_the_provider_info() -> None:
    found = [e for e in entry_points(group="apache_airflow_provider")
             if e.value == "resumable._provider_info:get_provider_info"]
    assert len(found) == 1
    info = found[0].load()()
    assert info == get_provider_info()
    assert info["package-name"] == "resumable" and info["versions"] == [version("resumable")]


def test_airflow_providers_list_shows_the_package(airflow_home: AirflowHome) -> None:
    [row] = _providers(airflow_home, "list")
    assert row["version"] == version("resumable")
    assert "ResumableJobMixin" in row["description"]


def test_airflow_providers_triggers_shows_the_trigger_module(
        airflow_home: AirflowHome) -> None:
    [row] = _providers(airflow_home, "triggers")
    assert row["class"] == "resumable._trigger"
    assert row["integration_name"] == "Resumable"


def test_the_resumable_config_section_is_known_to_airflow(airflow_home: AirflowHome) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "config", "get-value", "resumable", "store_url"],
                          env=airflow_home.env({"AIRFLOW__RESUMABLE__STORE_URL": "memory://"}),
                          capture_output=True, text=True, timeout=180, start_new_session=True)
    assert (done.returncode, done.stdout.strip()) == (0, "memory://"), done.stderr
    option = get_provider_info()["config"]["resumable"]["options"]["store_url"]
    assert option["default"] == ""


def test_airflow_providers_configs_names_the_state_backend(airflow_home: AirflowHome) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run([str(airflow), "providers", "configs", "-o", "json"],
                          env=airflow_home.env(), capture_output=True, text=True, timeout=180,
                          start_new_session=True)
    assert done.returncode == 0, done.stderr
    ours = [row for row in json.loads(done.stdout) if row["provider_config"][0] == "resumable"]
    assert ours and "store_client.airflow.StoreBackend" in json.dumps(ours)

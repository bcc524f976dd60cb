"""What Airflow's providers manager learns about this package: ``get_provider_info``.

How it works: the distribution declares the entry point ``apache_airflow_provider =
resumable._provider_info:get_provider_info``. Airflow calls it (in the scheduler, the
API server, workers and the CLI), checks the dict against its provider schema and
requires ``package-name`` to equal the distribution's name; then ``airflow providers
list`` shows the package, and ``airflow providers triggers`` the module of
``ResumableJobTrigger``. Importing this module imports nothing else, so discovery
stays cheap and never fails on a missing extra.

The ``[resumable]`` config section it declares (``store_url``) becomes a default Airflow's
configuration knows, on the server and on workers.

What it does not do: register anything by itself (the entry point does), or list a
state backend: Airflow 3.3's provider schema has no such key.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["get_provider_info"]

_NAME = "resumable"
_INTEGRATION = "Resumable"


def _version() -> str:
    try:
        return version(_NAME)
    except PackageNotFoundError:  # imported from a source tree that is not installed
        return "0.0.0"


def get_provider_info() -> dict[str, Any]:
    """The provider description Airflow validates and shows."""
    return {
        "package-name": _NAME,
        "name": "Resumable",
        "description": "Crash-safe external jobs, checkpoints and watermarks on task and "
                       "asset stores: ``ResumableJobMixin``, ``@checkpoint``, ``@watermark``.",
        "versions": [_version()],
        "integrations": [{"integration-name": _INTEGRATION, "tags": ["software"]}],
        "triggers": [{"integration-name": _INTEGRATION,
                      "python-modules": ["resumable._trigger"]}],
        "config": {"resumable": {
            "description": "Settings of ``store_client.airflow.StoreBackend``.",
            "options": {"store_url": {
                "description": "The store Airflow's state lives in when "
                               "``store_client.airflow.StoreBackend`` is the state backend "
                               "(server side, worker side or both): a postgresql+psycopg:// "
                               "URL, or a sqlite:/// file every component can open. "
                               "RESUMABLE_STORE_URL, when set, wins.",
                "version_added": "0.1.0", "type": "string", "example": None,
                "default": ""}}}},
    }

"""Fixtures shared by the mixin's test modules: the task store an operator runs on.

``store`` is a task store in a fresh SQLite file (a module that wants another backend
defines its own ``store``, which takes precedence). ``airflow_sdk`` is ``airflow.sdk``
imported with a throwaway ``AIRFLOW_HOME`` (a skip, or a failure under
``RESUMABLE_STRICT=1``, without Airflow). ``SCOPE``, ``KEY`` and ``ctx`` live in
``tests.resumable.fake_jobs`` beside the fake operator they go with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store_client import TaskStore, connect
from tests.resumable.fake_jobs import SCOPE
from tests.support import import_airflow_sdk


@pytest.fixture(scope="module")
def airflow_sdk() -> Any:
    return import_airflow_sdk()


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    """A task store of ``SCOPE`` in a new SQLite file."""
    return connect(f"sqlite:///{tmp_path / 'store.db'}").task_store(SCOPE)

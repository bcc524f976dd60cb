"""Fixtures shared by the mixin's test modules: the task store an operator runs on.

``store`` is a task store in a fresh SQLite file (a module that wants another backend
defines its own ``store``, which takes precedence). ``SCOPE``, ``KEY`` and ``ctx`` live in
``tests.resumable.fake_jobs`` beside the fake operator they go with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from store_client import TaskStore, connect
from tests.resumable.fake_jobs import SCOPE


@pytest.fixture
def store(tmp_path: Path) -> TaskStore:
    """A task store of ``SCOPE`` in a new SQLite file."""
    return connect(f"sqlite:///{tmp_path / 'store.db'}").task_store(SCOPE)

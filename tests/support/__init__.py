"""Helpers shared by the test suite and the benchmarks.

Nothing here imports pytest at module level, so benchmarks can use
:mod:`tests.support.postgres` without pytest installed.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, NoReturn

__all__ = ["import_airflow_sdk", "require_or_skip"]


def require_or_skip(reason: str) -> NoReturn:
    """Skip the current test because something it needs is missing.

    Use it when a required external program (a PostgreSQL server, Java, ...) is
    not available. Normally the test is skipped with *reason*. When the
    environment variable ``RESUMABLE_STRICT`` is ``1`` (CI sets it), a missing
    dependency is a failure instead, so CI cannot pass by silently skipping.
    """
    import pytest  # imported lazily: benchmarks import this package without pytest

    if os.environ.get("RESUMABLE_STRICT") == "1":
        pytest.fail(f"RESUMABLE_STRICT=1: {reason}")
    pytest.skip(reason)


def import_airflow_sdk() -> Any:
    """``airflow.sdk``, imported with a throwaway ``AIRFLOW_HOME`` unless one is set
    (a skip without Airflow, a failure under ``RESUMABLE_STRICT=1``)."""
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    try:
        import airflow.sdk as sdk
    except ImportError:
        require_or_skip("apache-airflow is not installed: pip install 'resumable[airflow]'")
    return sdk

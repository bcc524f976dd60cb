"""Fixtures for the example tests: real external systems, started once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import require_or_skip
from tests.support.spark import SparkCluster, find_spark_class


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[SparkCluster]:
    """A real Spark standalone cluster (Master with REST server, one Worker) on 127.0.0.1."""
    if find_spark_class() is None:
        require_or_skip("Spark needs pyspark (pip install pyspark==4.3.0) and java on PATH")
    with SparkCluster() as cluster:
        yield cluster

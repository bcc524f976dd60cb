"""Spark standalone example: a resumable operator on the REST submission API.

See :mod:`examples.spark_standalone.operator` for the operator and how ``find_job``
finds a driver by its idempotency token, and ``app.py`` for the PySpark app it runs.
"""

from examples.spark_standalone.operator import DriverLookupError, SparkStandaloneSubmitOperator

__all__ = ["DriverLookupError", "SparkStandaloneSubmitOperator"]

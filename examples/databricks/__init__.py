"""Databricks one-time runs that survive worker crashes: :class:`DatabricksSubmitRunOperator`
(Jobs API ``runs/submit`` with ``idempotency_token``, httpx)."""

from examples.databricks.operator import DatabricksSubmitRunOperator

__all__ = ["DatabricksSubmitRunOperator"]

"""Livy batches that survive worker crashes: :class:`LivyBatchOperator` (requests)."""

from examples.livy.operator import LivyBatchOperator

__all__ = ["LivyBatchOperator"]

"""EMR steps that survive worker crashes: :class:`EmrAddStepOperator` (boto3)."""

from examples.emr.operator import EmrAddStepOperator

__all__ = ["EmrAddStepOperator"]

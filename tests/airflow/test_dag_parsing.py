"""Every example DAG file parses in Airflow's ``DagBag``, and the decorated functions pass
through ``@task`` unchanged: Airflow sees their signatures without the injected parameter
and binds the DAG's arguments to them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.airflow_env import AirflowHome

DAG_IDS = ["resumable_databricks", "resumable_databricks_deferrable", "resumable_emr",
           "resumable_incremental_load", "resumable_interval_load", "resumable_livy",
           "resumable_mapped", "resumable_paginated_ingest", "resumable_spark",
           "resumable_spark_deferrable"]


@pytest.fixture(scope="module")
def parsed(airflow_home: AirflowHome) -> dict[str, Any]:
    return airflow_home.parse()


def test_every_dag_file_parses_without_errors(parsed: dict[str, Any]) -> None:
    assert parsed["import_errors"] == {}
    assert parsed["dag_ids"] == DAG_IDS


def test_operators_are_the_resumable_ones(parsed: dict[str, Any]) -> None:
    tasks = parsed["tasks"]
    assert tasks["resumable_databricks.nightly_run"]["operator"] == "DatabricksRun"
    assert tasks["resumable_databricks_deferrable.nightly_run"]["operator"] == "DatabricksRun"
    assert tasks["resumable_mapped.run_partition"]["operator"] == "MappedOperator"
    assert tasks["resumable_spark_deferrable.sum_range"]["operator"] == "SparkRun"
    for name in ("resumable_emr.add_step", "resumable_spark.sum_range", "resumable_livy.batch"):
        assert tasks[name]["operator"] == "JobTask"


@pytest.mark.parametrize(("task", "operator", "signature", "bound"), [
    ("resumable_paginated_ingest.ingest_pages", "_PythonDecoratedOperator",
     "(server: 'str', target: 'str') -> 'dict[str, Any]'", ["server", "target"]),
    ("resumable_incremental_load.load_orders", "_PythonDecoratedOperator",
     "(source: 'str', target: 'str') -> 'dict[str, Any]'", ["source", "target"]),
    ("resumable_interval_load.load_orders_by_day", "_PythonDecoratedOperator",
     "(source: 'str', target: 'str') -> 'dict[str, Any]'", ["source", "target"]),
    # mapped: the arguments are bound at expansion, per map index
    ("resumable_mapped.ingest_partition", "DecoratedMappedOperator",
     "(partition: 'int', server: 'str', target: 'str', per: 'int', ti: 'Any' = None)"
     " -> 'dict[str, Any]'", []),
])
def test_task_sees_the_signature_without_the_injected_parameter(
        parsed: dict[str, Any], task: str, operator: str, signature: str,
        bound: list[str]) -> None:
    info = parsed["tasks"][task]
    assert info["operator"] == operator
    assert info["signature"] == signature  # no `cp: Checkpoint` / `window: Window`
    assert info["op_kwargs"] == bound

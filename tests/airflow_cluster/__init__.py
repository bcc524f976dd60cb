"""Tests on a real multi-process Airflow: api-server, dag-processor, scheduler (LocalExecutor)."""

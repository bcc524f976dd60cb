"""The example DAGs run in real Apache Airflow with ``dag.test()``, each in a child process."""

"""Example DAG files, one per example (see ``_common`` for the settings they read).

This package marker exists so the files can share ``examples.dags._common``; the
scheduler still loads each file by path from its ``dags_folder``.
"""

"""Runnable example operators and DAGs built on resumable."""

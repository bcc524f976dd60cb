"""Benchmarks of the store client and resumable: one script per question, run by run_all.py.

How it is laid out: each public script (``store_ops.py``, ``contention.py``, ...) is a
command line that prints its tables and, with ``--summary``, writes its results for
``run_all.py``; modules starting with ``_`` are helpers they share (timing, tables, the
raw database floor, the PostgreSQL server) or a script's own parts.

What it does not do: run as part of the test suite (``tests/benchmarks`` runs each
script smoke-sized) or ship with the library.
"""

"""Incremental SQL-to-SQL load with ``@watermark``: ``orders`` copied into ``orders_copy``.

``tables`` defines the two tables and the upsert; ``load`` the watermarked load function
and its command line (``python -m examples.incremental_load.load --help``).
"""

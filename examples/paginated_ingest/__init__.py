"""Paginated REST ingest that survives crashes with ``@checkpoint``.

- :mod:`examples.paginated_ingest.ingest`: the two checkpointed ingest functions (by page
  number, by opaque next-page token), the target database and the CLI;
- :mod:`examples.paginated_ingest.server`: the small real HTTP API they read.

Nothing is imported here, so ``python -m examples.paginated_ingest.ingest`` runs the
module once.
"""

"""The ``resumable demo`` command and its job server, a test double; not the product.

- :func:`run_demo`: the demo's three parts (a job whose worker is SIGKILLed, a killed
  ``@checkpoint`` ingest, a ``@watermark`` load run twice), as ``resumable demo`` runs them.
- :class:`JobServer`: a Databricks-Jobs-API-shaped HTTP job server in its own process,
  used by the demo, the Databricks example and the tests.

How it works: the demo and the server run their worker and server processes as
``python -m resumable.demo COMMAND`` (see ``resumable/demo/__main__.py``). The product
modules (``resumable._*``) never import this package; ``resumable demo`` imports it when
run.
"""

from resumable.demo._jobserver import JobServer
from resumable.demo._run import run_demo

__all__ = ["JobServer", "run_demo"]

"""``python -m resumable.demo COMMAND ARGS...``: the processes the demo and the tests start.

- ``jobserver --port N --state FILE ...``: the job server (``jobserver --help``);
  :class:`resumable.demo.JobServer` starts it this way.
- ``job-worker STORE_URL RUN_ID SERVER_URL SECONDS``: one try of the demo's job.
- ``ingest-worker STORE_URL RUN_ID TARGET PAGE_SECONDS``: one try of the demo's ingest.

Why a module of its own: ``resumable.demo`` imports the modules these commands live in,
and ``python -m`` on a module that its package has already imported runs a second copy
of it (with a ``RuntimeWarning`` from runpy). Nothing imports this module. The demo
itself is the ``resumable demo`` command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from resumable.demo._incremental import ingest_worker
from resumable.demo._jobserver import main as jobserver_main
from resumable.demo._run import job_worker

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "jobserver": jobserver_main,
    "job-worker": job_worker,
    "ingest-worker": ingest_worker,
}


def main(argv: list[str]) -> int:
    """Run the command ``argv[0]`` with the rest of ``argv``; 2 if there is no such one."""
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m resumable.demo {{{','.join(COMMANDS)}}} ARGS...\n"
              "(the demo itself is the `resumable demo` command)", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

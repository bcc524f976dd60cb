"""Worker process for ``checkpoint_overhead.py``'s crash trials: a loop over pages.

``python benchmarks/_checkpoint_worker.py STORE_URL LOG PAGES PAGE_MS EVERY``: loops
over pages 1..PAGES, each a busy-wait of PAGE_MS, and appends each finished page number
to LOG with one ``O_APPEND`` write (it survives a SIGKILL of this process). ``EVERY`` >= 1
checkpoints the loop with ``@checkpoint(every=EVERY)`` on the task store at STORE_URL;
``EVERY`` = 0 is the bare loop, which always starts again at page 1.

What it does not do: kill itself or count redone pages (``checkpoint_overhead.py``
kills it and reads LOG); ``busy`` is also the busy-wait page of that script's timings.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from resumable import Checkpoint, checkpoint
from store_client import TaskScope, connect


def busy(ms: float) -> None:
    """Spin for ``ms`` milliseconds (a page's work; sleep is too coarse for 1 ms)."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def main(argv: list[str]) -> int:
    store_url, log, pages, page_ms, every = argv
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def page_done(page: int) -> None:
        busy(float(page_ms))
        os.write(fd, f"{page}\n".encode())

    if int(every) == 0:
        for page in range(1, int(pages) + 1):
            page_done(page)
        return 0

    @checkpoint(key="pages", every=int(every))
    def loop(cp: Checkpoint) -> None:
        for page in cp.resume(range(1, int(pages) + 1)):
            page_done(page)

    with connect(store_url) as client:
        loop(task_store=client.task_store(TaskScope("bench", "run", "loop")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The ``resumable demo`` parts for ``@checkpoint`` and ``@watermark``.

How it works: the ingest part runs a checkpointed function that "fetches" 30 pages (a
short sleep each) and appends each page to a target file, in a worker process on the
configured store; the first worker's fetch of page 13 hangs (a slow API), and once it
has started the demo SIGKILLs the worker, starts a second one as a retry would, and
shows from the target file that the retry resumed after page 12, the last committed
(at most the page in flight is loaded twice, never a page lost). The
load part runs a watermarked function twice in this process over a small in-memory
``orders`` source: rows arrive between the runs, one of them sharing the boundary
timestamp, and the second run loads exactly the new rows.

What it does not do: use Airflow or a network: pages and orders are generated here.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from resumable._checkpoint import Checkpoint
from resumable._decorators import checkpoint, watermark
from resumable._window import State, Window
from resumable.demo._processes import Say, start_worker, wait_for
from store_client import TaskScope, connect

__all__ = ["ingest_worker", "run_ingest_demo", "run_load_demo"]

PAGES = 30
KILL_AFTER_PAGE = 12


STALL_SECONDS = 30.0  # the first worker's fetch of the page after KILL_AFTER_PAGE


@checkpoint(key="pages", every=1)
def ingest(cp: Checkpoint, target: Path, page_seconds: float, stall_page: int = 0) -> int:
    """Fetch pages 1..PAGES and append each to ``target``, resuming after the last one.

    The fetch of ``stall_page`` hangs (a slow API), so the demo's kill lands during it.
    """
    if cp.position is not None:
        print(f"resuming after page {cp.position} (committed by the killed try)", flush=True)
    for page in cp.resume(range(1, PAGES + 1)):
        if page == stall_page:
            print(f"fetching page {page}...", flush=True)
        time.sleep(STALL_SECONDS if page == stall_page else page_seconds)  # the "fetch"
        with target.open("a") as out:
            out.write(f"{page}\n")
        print(f"page {page} loaded", flush=True)
    return PAGES


def ingest_worker(argv: list[str]) -> int:
    """Worker process: ``python -m resumable.demo ingest-worker STORE_URL RUN_ID TARGET
    PAGE_SECONDS [STALL_PAGE]``."""
    store_url, run_id, target, page_seconds, *stall = argv
    with connect(store_url) as client:
        store = client.task_store(TaskScope("resumable_demo", run_id, "ingest"))
        ingest(Path(target), float(page_seconds), int(stall[0]) if stall else 0,
               task_store=store)
    print("RESULT done", flush=True)
    return 0


def run_ingest_demo(store_url: str, run_id: str, say: Say, *,
                    page_seconds: float = 0.05) -> bool:
    """Kill a checkpointed ingest while it fetches page 13 and resume it; True if no page
    was lost."""
    say("")
    say(f"== @checkpoint: an ingest of {PAGES} pages, killed while it fetches page "
        f"{KILL_AFTER_PAGE + 1} ==")
    with tempfile.TemporaryDirectory(prefix="resumable-demo-") as tmp:
        target = Path(tmp) / "target.txt"
        args = [store_url, run_id, str(target), str(page_seconds)]
        lines: list[str] = []
        first = start_worker(1, "ingest-worker", [*args, str(KILL_AFTER_PAGE + 1)], say,
                             lines)
        if not wait_for(lambda: f"fetching page {KILL_AFTER_PAGE + 1}..." in lines, 30):
            os.killpg(first.pid, signal.SIGKILL)
            say("the ingest never reached the kill page; giving up")
            return False
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        last = max(int(line.split()[1]) for line in lines if line.endswith(" loaded"))
        say(f">>> SIGKILLed worker 1 (pid {first.pid}) while it fetched page {last + 1}, "
            f"after it reported page {last}")
        say(">>> starting worker 2, as the task's retry would")
        code = start_worker(2, "ingest-worker", args, say, lines).wait(60)
        time.sleep(0.2)
        loads = Counter(int(line) for line in target.read_text().split())
    lost = [p for p in range(1, PAGES + 1) if p not in loads]
    twice = sorted(p for p, n in loads.items() if n > 1)
    ok = code == 0 and not lost and len(twice) <= 1
    say(f"pages in the target: {len(loads)} of {PAGES}; lost: {lost or 'none'}; "
        f"loaded twice: {twice or 'none'} (at most the page in flight, with every=1)")
    say("OK: the retry resumed after the last committed page" if ok else
        "FAILED: pages were lost or redone")
    return ok


UTC = timezone.utc
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _order(order_id: int, minute: int) -> dict[str, Any]:
    return {"id": order_id, "updated_at": T0 + timedelta(minutes=minute)}


def run_load_demo(store_url: str, run_id: str, say: Say) -> bool:
    """Run a watermarked load twice while rows arrive; True if each row loaded once."""
    say("")
    say("== @watermark: an incremental load run twice, rows arriving in between ==")
    source = [_order(1, 0), _order(2, 5), _order(3, 10), _order(4, 10)]
    target: Counter[int] = Counter()
    client = connect(store_url)
    asset = f"resumable-demo-orders/{run_id}"

    @watermark(asset, cursor="updated_at", primary_key="id", initial=T0, store=client)
    def load_orders(window: Window) -> int:
        rows = window.filter(source)  # the rows in the window, the boundary's tie dropped
        target.update(r["id"] for r in rows)
        return len(rows)

    def cursor() -> str:
        return str(State.decode(client.asset_store(asset).get("watermark")).cursor)

    try:
        say(f"run 1 loaded {load_orders()} rows; stored cursor {cursor()} "
            "(the largest updated_at loaded, not the clock)")
        source += [_order(5, 10), _order(6, 12), _order(7, 15)]
        say("3 rows arrive: order 5 at the boundary time 09:10, orders 6 and 7 later")
        say(f"run 2 loaded {load_orders()} rows; stored cursor {cursor()}")
    finally:
        client.close()
    ok = sorted(target) == [r["id"] for r in source] and set(target.values()) == {1}
    say("OK: every order loaded exactly once, the boundary tie included" if ok else
        f"FAILED: loads per order {dict(target)}")
    return ok

"""What the growth benchmark measures at each table size: set/get, cleanup, a stall, listing.

How it works: :func:`growth_figures` seeds the job records, then grows one store to
each size in turn (``_growth_seed``) and calls :func:`measure_size` there:

* ``set`` and ``get`` of one task-store key: medians of ``n`` timed calls after
  ``warmup`` untimed ones (``_stats.median_ns``);
* cleanup: ``cleanup_rows`` expired rows are seeded and one ``cleanup`` timed on a
  fresh client (``_cleanup``); the figure per batch is the total over the DELETE
  statements it ran;
* the stall: the same again while a forked process writes a task key in a loop on its
  own connection (:func:`stall_writer`); the longest of its writes that overlapped the
  cleanup, and its median write before it;
* the job listing: the median of ``listing_repeats`` calls of
  ``resumable._cli.tracked_jobs(url)``, each checked to list the seeded jobs.

What it does not do: time seeding, judge figures (``_growth_report``) or run the
concurrent watermark writers (``_growth_writers``).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from benchmarks._cleanup import seed_expired, timed_cleanup
from benchmarks._growth_seed import JOBS, grow, seed_jobs
from benchmarks._growth_settings import Settings
from benchmarks._stats import fmt_ns, fmt_s, median_ns
from resumable._cli import tracked_jobs
from store_client import TaskScope, connect

__all__ = ["SizeFigures", "growth_figures"]

FORK = multiprocessing.get_context("fork")
LATENCY_SCOPE = TaskScope("bench_dag", "run_1", "extract")
STALL_SCOPE = TaskScope("bench_dag", "run_1", "stall_writer")


@dataclass(frozen=True)
class SizeFigures:
    """Everything measured at one table size on one backend."""

    rows: int
    set_ns: float
    get_ns: float
    cleanup_s: float
    batches: int
    stall_ns: int | None  # the longest write overlapping a cleanup; None: no write overlapped
    write_ns: float  # the writer's median write before that cleanup
    listing_s: float

    @property
    def per_batch_s(self) -> float:
        return self.cleanup_s / self.batches


def set_get(url: str, n: int, warmup: int) -> tuple[float, float]:
    """Median ``set`` and ``get`` of one task-store key, in ns."""
    with connect(url) as client:
        store = client.task_store(LATENCY_SCOPE)
        store.set("checkpoint", {"page": -1})

        def do_set(i: int) -> None:
            store.set("checkpoint", {"page": i})

        def do_get(_i: int) -> None:
            if store.get("checkpoint") is None:
                raise RuntimeError("get: the checkpoint key is missing")

        return median_ns(do_set, n, warmup), median_ns(do_get, n, warmup)


def stall_writer(url: str, ready: Event, stop: Event, out: Connection) -> None:
    """Child: write one task key in a loop until ``stop``; send (start, duration) pairs."""
    samples: list[tuple[int, int]] = []
    errors = 0
    with connect(url) as client:
        store = client.task_store(STALL_SCOPE)
        store.set("beat", 0)
        ready.set()
        i = 0
        while not stop.is_set():
            i += 1
            start = time.monotonic_ns()
            try:
                store.set("beat", i)
            except Exception:  # a failed write is a stall too: count it, keep going
                errors += 1
            samples.append((start, time.monotonic_ns() - start))
    out.send((samples, errors))
    out.close()


def cleanup_stall(url: str, rows: int) -> tuple[int | None, float]:
    """Run a cleanup while another process writes; (longest overlapping write, median
    write before the cleanup), in ns."""
    seed_expired(url, rows)
    ready, stop = FORK.Event(), FORK.Event()
    receive, send = FORK.Pipe(duplex=False)
    child = FORK.Process(target=stall_writer, args=(url, ready, stop, send), daemon=True)
    child.start()
    send.close()
    try:
        if not ready.wait(60):
            raise RuntimeError("the stall writer did not start")
        time.sleep(0.2)  # some writes before the cleanup, for the baseline
        timing = timed_cleanup(url, rows)
        time.sleep(0.05)
    finally:
        stop.set()
    samples, errors = receive.recv()
    child.join(30)
    if errors:
        print(f"    the stall writer saw {errors} failed writes", flush=True)
    started, ended = timing.started_ns, timing.ended_ns
    before = [d for s, d in samples if s + d < started]
    during = [d for s, d in samples if s < ended and s + d > started]
    return (max(during) if during else None,
            statistics.median(before) if before else float("nan"))


def listing(url: str, repeats: int) -> float:
    """Median seconds of ``tracked_jobs(url)``, each call checked to list the jobs."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        jobs = tracked_jobs(url)
        samples.append(time.perf_counter() - started)
        found = sorted(str(job["external_id"]) for job in jobs)
        if found != sorted(f"job-{i}" for i in range(JOBS)):
            raise RuntimeError(f"tracked_jobs listed {len(jobs)} jobs, expected the {JOBS}")
    return statistics.median(samples)


def measure_size(url: str, rows: int, settings: Settings) -> SizeFigures:
    """Every per-size figure of the store at ``url``, which holds ``rows`` rows."""
    set_ns, get_ns = set_get(url, settings.n, settings.warmup)
    print(f"    set {fmt_ns(set_ns)}, get {fmt_ns(get_ns)} (medians)", flush=True)
    seed_expired(url, settings.cleanup_rows)
    cleanup = timed_cleanup(url, settings.cleanup_rows)
    print(f"    cleanup of {settings.cleanup_rows:,} expired rows: {fmt_s(cleanup.seconds)} "
          f"({cleanup.batches} batches)", flush=True)
    stall_ns, write_ns = cleanup_stall(url, settings.cleanup_rows)
    print(f"    longest write during a cleanup: "
          f"{'-' if stall_ns is None else fmt_ns(stall_ns)} "
          f"(median before it {fmt_ns(write_ns)})", flush=True)
    listing_s = listing(url, settings.listing_repeats)
    print(f"    job listing: {fmt_s(listing_s)} (median)", flush=True)
    return SizeFigures(rows, set_ns, get_ns, cleanup.seconds, cleanup.batches, stall_ns,
                       write_ns, listing_s)


def growth_figures(url: str, settings: Settings) -> list[SizeFigures]:
    """Grow the store at ``url`` to each size in turn and measure there."""
    seed_jobs(url)
    figures: list[SizeFigures] = []
    have = 0
    for rows in settings.sizes:
        print(f"  {rows:,} rows", flush=True)
        grow(url, have, rows)
        have = max(have, rows)
        figures.append(measure_size(url, rows, settings))
    return figures

"""Crash trials of the paginated-ingest CLI: SIGKILL it at a random page, re-run it, count.

Each seed draws a mode (page numbers or tokens), ``every`` in {1, 3, 10}, a page K and
a small extra delay. The ingest runs as a real process in its own process group; the test
reads its output until ``loaded page K``, waits the extra delay (so the kill lands
anywhere: mid-fetch, mid-transaction, mid-commit) and SIGKILLs the group, then re-runs
the ingest to completion. Claims: no page is lost (every item is in the target exactly
once), at most ``every`` pages are loaded twice (counted from ``page_loads``), none three
times, and the re-run starts right after the position the killed run had committed.
Two seeds keep the checkpoint in PostgreSQL, the rest in a SQLite file.

Run with ``-s`` to see one line per trial and the totals.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from examples.paginated_ingest.server import Catalog
from store_client import TaskScope, connect
from tests.examples.paginated_support import PageServer, start_ingest, target_counts
from tests.support.postgres import PostgresServer

PAGES, SIZE, DELAY_MS = 40, 5, 3
SEEDS = range(20)
POSTGRES_SEEDS = (5, 16)
KEY = {"pages": "page", "tokens": "next_token"}
CATALOG = Catalog(PAGES, SIZE)


@dataclass(frozen=True)
class Plan:
    seed: int
    mode: str
    every: int
    kill_page: int
    extra_delay: float

    @classmethod
    def draw(cls, seed: int) -> Plan:
        rng = random.Random(seed)
        mode = rng.choice(("pages", "tokens"))
        every = rng.choice((1, 3, 10))
        kill_page = rng.randint(1, PAGES - 10)  # >= 10 pages (>= 30 ms) left to kill
        extra = rng.choice((0.0, round(rng.uniform(0.0, 0.015), 4)))
        return cls(seed, mode, every, kill_page, extra)


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    store: str
    loaded_before_kill: int  # pages in the target when the first run died
    committed: object  # the checkpoint the killed run left
    resumed_at: int  # first page the re-run loaded
    lost: int
    redone: int


@pytest.fixture(scope="module")
def server() -> Iterator[PageServer]:
    with PageServer(pages=PAGES, page_size=SIZE, delay_ms=DELAY_MS) as srv:
        yield srv


@pytest.fixture(scope="module")
def outcomes() -> Iterator[list[Outcome]]:
    done: list[Outcome] = []
    yield done
    if done:
        worst = {e: max((o.redone for o in done if o.plan.every == e), default=0)
                 for e in (1, 3, 10)}
        print(f"\npaginated ingest crash trials: {len(done)} SIGKILLs, "
              f"{sum(o.lost for o in done)} pages lost, "
              f"{sum(o.redone for o in done)} pages redone in all; "
              f"max redone per every: {worst}; "
              f"modes: {sum(o.plan.mode == 'pages' for o in done)} pages / "
              f"{sum(o.plan.mode == 'tokens' for o in done)} tokens; "
              f"stores: {sum(o.store == 'postgresql' for o in done)} postgresql")


def _page_of(mode: str, committed: object) -> int:
    """The page a re-run should start at, given the committed checkpoint."""
    if committed is None:
        return 1
    if mode == "pages":
        assert isinstance(committed, int)
        return committed + 1
    assert isinstance(committed, str)
    return CATALOG.page_of_token(committed)


@pytest.mark.parametrize("seed", SEEDS)
def test_sigkill_at_a_random_page_loses_nothing(seed: int, server: PageServer, tmp_path: Path,
                                                request: pytest.FixtureRequest,
                                                outcomes: list[Outcome]) -> None:
    plan = Plan.draw(seed)
    if seed in POSTGRES_SEEDS:
        postgres: PostgresServer = request.getfixturevalue("postgres_server")
        store_url, kind = postgres.create_database(f"paginated_crash_{seed}"), "postgresql"
    else:
        store_url, kind = f"sqlite:///{tmp_path / 'store.db'}", "sqlite"
    target, run_id = tmp_path / "target.db", f"seed-{seed}"
    scope = TaskScope("paginated_ingest", run_id, "ingest")

    first = start_ingest(server.url, target, store_url, mode=plan.mode, every=plan.every,
                         run_id=run_id)
    assert first.wait_for_line(f"loaded page {plan.kill_page}"), first.lines
    if plan.extra_delay:
        time.sleep(plan.extra_delay)
    assert first.kill() == -signal.SIGKILL, first.lines  # killed, not finished
    loaded_before = set(target_counts(target)["loads"])
    with connect(store_url) as client:
        committed = client.task_store(scope).get(KEY[plan.mode])

    second = start_ingest(server.url, target, store_url, mode=plan.mode, every=plan.every,
                          run_id=run_id)
    assert second.finish() == 0, second.lines
    rerun = [int(line.split()[-1]) for line in second.lines if line.startswith("loaded page")]
    counts = target_counts(target)
    loads: dict[int, int] = counts["loads"]
    lost = [page for page in range(1, PAGES + 1) if page not in loads]
    redone = sorted(page for page, n in loads.items() if n > 1)

    assert lost == []
    assert counts["ids"] == list(range(1, PAGES * SIZE + 1))  # upserted: each item once
    assert max(loads.values()) <= 2
    assert len(redone) <= plan.every, (plan, redone)
    assert rerun == list(range(_page_of(plan.mode, committed), PAGES + 1))
    assert redone == sorted(loaded_before & set(rerun))
    with connect(store_url) as client:
        assert client.task_store(scope).items() == {}  # cleared on success

    outcome = Outcome(plan, kind, len(loaded_before), committed, rerun[0], len(lost),
                      len(redone))
    outcomes.append(outcome)
    print(f"seed={seed} mode={plan.mode} every={plan.every} store={kind} "
          f"kill after page {plan.kill_page} +{plan.extra_delay * 1000:.0f} ms: "
          f"{outcome.loaded_before_kill} pages loaded, re-run from page {outcome.resumed_at}, "
          f"redone {outcome.redone}, lost {outcome.lost}")

"""Concurrent watermarked runs in real processes end at the largest cursor, never behind."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
from pathlib import Path

from resumable._window import State
from store_client import connect

PROCESSES = 6
RUNS = 25

# Each process runs RUNS watermarked loads; each load observes a random cursor and,
# right after its commit, reads the stored cursor back: it must never be below what this
# run observed (never backwards), whatever the other processes wrote meanwhile.
WORKER = textwrap.dedent("""
    import random, sys
    from resumable import open_window
    from resumable._window import State
    from store_client import connect
    url, seed, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(seed)
    sys.stdin.readline()  # start line: every process begins at once
    seen = []
    with connect(url) as client:
        assets = client.asset_store("orders")
        for i in range(runs):
            with open_window(assets, cursor="n", primary_key="id") as window:
                value = rng.randrange(10_000)
                window.observe([{"id": f"{seed}-{i}", "n": value}])
            after = State.decode(assets.get("watermark")).cursor
            assert after >= value, (after, value)
            seen.append(value)
    print(max(seen))
""")


def test_concurrent_runs_end_at_the_largest_cursor(persistent_url: str, tmp_path: Path) -> None:
    connect(persistent_url).asset_store("warmup").set("k", 1)  # create the schema first
    seeds = random.Random(7).sample(range(1000), PROCESSES)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, persistent_url, str(seed),
                               str(RUNS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for seed in seeds]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    maxima = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        maxima.append(int(out))
    stored = State.decode(connect(persistent_url).asset_store("orders").get("watermark"))
    assert stored.cursor == max(maxima)

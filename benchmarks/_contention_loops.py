"""What each writer process of ``contention.py`` does: one timed loop on one counter key.

How it works: every loop gets ready first (connects, reads the counter), calls
``start()`` (``_together.run_together``'s barrier: every writer starts at once), then
loops for ``seconds`` and returns a :class:`Tally`:

* :func:`ours_cas`: ``asset_store.compare_and_set(key, cur, cur + 1)`` through the public
  API, re-reading with ``get`` after a False;
* :func:`raw_cas`: the same loop on the raw floor (``_raw_floor.RawStore``:
  ``UPDATE ... WHERE value = expected RETURNING``, re-read with a ``SELECT``);
* :func:`ours_update`: ``asset_store.update(key, bump)``, where ``bump(cur)`` is
  ``1 if cur is None else cur + 1`` and counts how often it ran.

What it does not do: seed the counter, check the final value or compute rates: the
parent does (``contention.py``). A store error is not caught: it ends the writer, and
``run_together`` reports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from pydantic import JsonValue

from benchmarks._raw_floor import ASSET, RawStore
from benchmarks._together import Start
from store_client import connect

__all__ = ["Tally", "as_int", "ours_cas", "ours_update", "raw_cas", "raw_counter"]


@dataclass
class Tally:
    """What one writer did in its timed loop."""

    successes: int = 0  # increments that took effect
    attempts: int = 0  # compare_and_set (or update) calls made
    changes: int = 0  # update only: how often the change function ran
    seconds: float = 0.0  # the loop's duration


def as_int(value: object) -> int:
    """The counter's value, which must be an int."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise RuntimeError(f"the counter holds {value!r}, not an int")
    return value


def raw_counter(raw: RawStore, key: str) -> int:
    """The raw floor's counter ``key``, which must exist."""
    value = raw.read_asset(key)
    if value is None:
        raise RuntimeError(f"the raw counter {key} is missing")
    return int(value)


def cas_loop(cas: Callable[[int], bool], read: Callable[[], int], seconds: float,
             start: Start) -> Tally:
    """From the start, for ``seconds``: ``cas(current)`` (current -> current + 1), and
    ``read()`` the counter again after a failed one."""
    current = read()
    start()
    tally = Tally()
    began = time.perf_counter()
    deadline = began + seconds
    while time.perf_counter() < deadline:
        tally.attempts += 1
        if cas(current):
            current += 1
            tally.successes += 1
        else:
            current = read()
    tally.seconds = time.perf_counter() - began
    return tally


def ours_cas(url: str, key: str, seconds: float, start: Start) -> Tally:
    """The compare_and_set loop through the public API."""
    with connect(url) as client:
        store = client.asset_store(ASSET)
        return cas_loop(lambda cur: store.compare_and_set(key, cur, cur + 1),
                        lambda: as_int(store.get(key)), seconds, start)


def raw_cas(open_raw: Callable[[], RawStore], key: str, seconds: float,
            start: Start) -> Tally:
    """The same loop on a raw floor connection of its own (``open_raw()``)."""
    with closing(open_raw()) as raw:
        return cas_loop(lambda cur: raw.update_if(key, str(cur), str(cur + 1)),
                        lambda: raw_counter(raw, key), seconds, start)


def ours_update(url: str, key: str, seconds: float, start: Start) -> Tally:
    """``update(key, bump)`` in a loop, counting the runs of ``bump``."""
    tally = Tally()

    def bump(current: JsonValue | None) -> JsonValue:
        tally.changes += 1
        return 1 if current is None else as_int(current) + 1

    with connect(url) as client:
        store = client.asset_store(ASSET)
        store.get(key)  # the schema check and a connection, before the start
        start()
        began = time.perf_counter()
        deadline = began + seconds
        while time.perf_counter() < deadline:
            tally.attempts += 1
            store.update(key, bump)
            tally.successes += 1
        tally.seconds = time.perf_counter() - began
    return tally

"""The one-line results every benchmark hands to ``run_all.py``: figure, target, met.

How it works: a benchmark script given ``--summary FILE`` writes its results there as a
JSON list of :class:`Result` (``write_summary``); ``run_all.py`` runs each script as a
child process and reads the files back (``read_summary``) to print one table. A result
with ``met=None`` is a figure without a target (reported, never a miss).

What it does not do: time anything, or judge a result: each script decides ``met``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Result", "read_summary", "write_summary"]


@dataclass(frozen=True)
class Result:
    """One figure of one benchmark, with its target."""

    benchmark: str  #: the script's short name, e.g. "store ops"
    measure: str  #: what was measured, e.g. "SQLite set / raw sqlite3 upsert"
    figure: str  #: the figure as printed, e.g. "1.62x (38.1 µs / 23.5 µs)"
    target: str  #: the target as stated, e.g. "<= 2x"; "-" when there is none
    met: bool | None  #: None: no target


def write_summary(path: Path | str | None, results: list[Result]) -> None:
    """Write ``results`` to ``path`` as JSON (nothing when ``path`` is None)."""
    if path is not None:
        Path(path).write_text(json.dumps([asdict(r) for r in results], indent=1))


def read_summary(path: Path | str) -> list[Result]:
    """The results a benchmark wrote with :func:`write_summary`."""
    return [Result(**item) for item in json.loads(Path(path).read_text())]

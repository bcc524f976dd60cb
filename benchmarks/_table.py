"""The plain-text tables every benchmark prints: ``a | b | c`` with a rule under the header.

How it works: :func:`print_table` pads columns to their widest cell; ``LABEL`` names
each backend in a measure; :func:`yes_no` is
the "met?" cell of a target; :func:`print_results` prints a list of summary results as
``measure | figure | target | met`` and :func:`missed_line` the one-line verdict under
it.

What it does not do: measure, judge a figure (each script decides ``met``) or write
summaries (``_summary.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks._summary import Result

__all__ = ["LABEL", "missed_line", "print_results", "print_table", "yes_no"]

#: How a backend is named in a measure: "SQLite set / raw sqlite3 upsert".
LABEL = {"memory": "memory", "sqlite": "SQLite", "postgresql": "PostgreSQL"}


def print_table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """Print ``header`` and ``rows`` as left-aligned columns separated by `` | ``."""
    cells = [header, *rows]
    widths = [max(len(line[col]) for line in cells) for col in range(len(header))]
    for index, line in enumerate(cells):
        padded = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print(" | ".join(padded).rstrip())
        if index == 0:
            print("-+-".join("-" * width for width in widths))


def yes_no(met: bool | None) -> str:
    """The "met?" cell: ``yes``, ``NO``, or ``-`` when there is no target."""
    return "-" if met is None else ("yes" if met else "NO")


def print_results(results: Sequence[Result]) -> None:
    """``measure | figure | target | met`` for each result."""
    print_table(("measure", "figure", "target", "met"),
                [(r.measure, r.figure, r.target, yes_no(r.met)) for r in results])


def missed_line(results: Sequence[Result]) -> str:
    """``targets missed: ...`` naming each missed measure, or ``all measured targets met``."""
    missed = [r.measure for r in results if r.met is False]
    return f"targets missed: {'; '.join(missed)}" if missed else "all measured targets met"

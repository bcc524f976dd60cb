"""The plain-text table every benchmark prints: ``a | b | c`` with a rule under the header."""

from __future__ import annotations

__all__ = ["print_table"]


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Print ``header`` and ``rows`` as left-aligned columns separated by `` | ``."""
    cells = [header, *rows]
    widths = [max(len(line[col]) for line in cells) for col in range(len(header))]
    for index, line in enumerate(cells):
        padded = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        print(" | ".join(padded).rstrip())
        if index == 0:
            print("-+-".join("-" * width for width in widths))

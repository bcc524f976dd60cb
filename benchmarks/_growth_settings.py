"""What a growth benchmark run measures: sizes, writer counts, calls; full and quick defaults.

How it works: ``growth.py`` defines the command line; :func:`settings_from` fills each
option left out with its full or ``--quick`` default and checks the result, giving a
frozen :class:`Settings` the measuring modules take. :func:`int_list` parses
``--sizes`` and ``--writers``.

What it does not do: define the options (``growth.py`` does, so ``run_all.py`` sees
which ones the script takes) or measure anything.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

__all__ = ["Settings", "int_list", "settings_from"]

DEFAULT_SIZES, QUICK_SIZES = (0, 100_000, 1_000_000, 5_000_000), (0, 20_000, 100_000)
DEFAULT_WRITERS, QUICK_WRITERS = (1, 8, 64), (1, 8, 16)
DEFAULT_CLEANUP_ROWS, QUICK_CLEANUP_ROWS = 50_000, 10_000


@dataclass(frozen=True)
class Settings:
    """What to run, from the command line."""

    sizes: tuple[int, ...]
    writers: tuple[int, ...]
    cleanup_rows: int
    n: int
    warmup: int
    listing_repeats: int
    writer_seconds: float


def int_list(textual: str) -> tuple[int, ...]:
    """``"0,100_000"`` as ``(0, 100000)``; each value >= 0."""
    try:
        values = tuple(int(part.replace("_", "")) for part in textual.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: "
                                         f"{textual!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 0: {textual!r}")
    return values


def settings_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Settings:
    """The options given, the others at their full or ``--quick`` default; checked."""
    quick = args.quick
    settings = Settings(
        sizes=args.sizes or (QUICK_SIZES if quick else DEFAULT_SIZES),
        writers=args.writers or (QUICK_WRITERS if quick else DEFAULT_WRITERS),
        cleanup_rows=args.cleanup_rows or (QUICK_CLEANUP_ROWS if quick
                                           else DEFAULT_CLEANUP_ROWS),
        n=args.n or (300 if quick else 2000),
        warmup=args.warmup if args.warmup is not None else (50 if quick else 200),
        listing_repeats=args.listing_repeats or (3 if quick else 5),
        writer_seconds=args.writer_seconds or (1.5 if quick else 5.0))
    if list(settings.sizes) != sorted(settings.sizes) or 0 in settings.writers:
        parser.error("--sizes must be ascending and --writers at least 1 each")
    if settings.cleanup_rows < 1 or settings.n < 1 or settings.writer_seconds <= 0:
        parser.error("--cleanup-rows, --n and --writer-seconds must be positive")
    return settings

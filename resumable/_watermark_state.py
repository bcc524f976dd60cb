"""The stored watermark: its cursor and boundary, and how a run's findings merge into it.

How it works: :class:`State` is what sits under the watermark's key in the asset store
(``{"type", "cursor", "boundary", ...}``: :mod:`resumable._cursor` and
:mod:`resumable._boundary` encode the parts). :func:`merged` is the pure rule a commit
applies before its ``compare_and_set``: the cursor only moves forward (in the load's
direction), and at an equal cursor the boundaries are united.

What it does not do: read or write a store (see :mod:`resumable._window`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resumable._boundary import BOUNDARY_LIMIT, Boundary
from resumable._cursor import CursorValue, check_cursor, decode_cursor, encode_cursor
from resumable._errors import CursorTypeError
from resumable._watermark_spec import Direction

__all__ = ["State", "merged"]

@dataclass(frozen=True)
class State:
    """A stored watermark: the cursor and the rows loaded at it."""

    cursor: CursorValue
    boundary: Boundary = field(default_factory=Boundary)

    @classmethod
    def decode(cls, stored: object) -> State:
        if not isinstance(stored, dict):
            raise CursorTypeError(f"the stored watermark {stored!r:.100} is not one this "
                                  "library wrote")
        return cls(decode_cursor(stored), Boundary.decode(stored))

    def encode(self) -> dict[str, Any]:
        return {**encode_cursor(self.cursor), **self.boundary.encode()}


_MAX = Direction(max)


def merged(current: State | None, observed: CursorValue | None, boundary: Boundary,
           direction: Direction = _MAX, limit: int = BOUNDARY_LIMIT) -> State | None:
    """The watermark to store after observing up to ``observed``; None if nothing moves.

    Never backwards: a ``current`` further along than ``observed`` stays. At an equal
    cursor the boundaries are united (within ``limit`` identities).
    """
    if observed is None:
        return None
    if current is None:
        return State(observed, boundary.capped(limit))
    check_cursor(observed, "the observed cursor", like=current.cursor)
    if direction.later(observed, current.cursor):
        return State(observed, boundary.capped(limit))
    if observed == current.cursor and not current.boundary.covers(boundary):
        return State(observed, current.boundary.union(boundary, limit))
    return None

"""The rows at a watermark's cursor that were loaded: an exact-where-known, bounded set.

How it works: rows at the stored cursor are read again by the next run (the start is
closed), so the watermark keeps the identities of the rows it loaded there: 64-bit ints
(the first 8 bytes of a SHA-256, :func:`identity`). Any number of rows may share one
cursor value (a date cursor on a busy day), but a stored value is bounded (64 KiB in
Airflow), so a :class:`Boundary` keeps at most ``limit`` identities: the *smallest*
ones, with ``below`` the largest identity it still covers. The invariant: every loaded
row whose identity is ``<= below`` is in ``ids``. A row at the cursor is dropped only
when its identity is in ``ids``; a row above ``below`` is not known and is delivered
again, so an overflow re-delivers (which an upsert absorbs) and never drops a row that
was not loaded. Merging two boundaries at the same cursor keeps the invariant: the lower
``below`` wins and only identities under it stay.

It is stored as one base64 string of the sorted 8-byte identities (4,096 of them take
43,692 characters) plus ``below`` as 16 hex digits when the set is partial.

What it does not do: remember rows at any other cursor value; tell two rows apart whose
identities collide in 64 bits (about one chance in 10^15 for a boundary of 4,096 rows).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from resumable._errors import CursorTypeError

__all__ = ["BOUNDARY_LIMIT", "Boundary", "BoundaryBuilder", "identity"]

BOUNDARY_LIMIT = 4096
_ALL = (1 << 64) - 1  # ``below`` of a complete boundary: every identity is covered


def identity(text: str) -> int:
    """The 64-bit identity of a row's canonical text."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _capped(ids: Iterable[int], below: int, limit: int) -> Boundary:
    kept = sorted(i for i in ids if i <= below)
    if len(kept) > limit:
        below = kept[limit - 1] if limit else -1
        kept = kept[:limit]
    return Boundary(frozenset(kept), below)


@dataclass(frozen=True)
class Boundary:
    """Identities of rows loaded at one cursor value: all of those ``<= below``."""

    ids: frozenset[int] = field(default_factory=frozenset)
    below: int = _ALL

    @property
    def complete(self) -> bool:
        """Whether every loaded row at the cursor is known (no overflow happened)."""
        return self.below == _ALL

    def knows(self, ident: int) -> bool:
        """Whether the row with this identity was loaded at the cursor."""
        return ident in self.ids

    def union(self, other: Boundary, limit: int = BOUNDARY_LIMIT) -> Boundary:
        """The boundary of both loads at the same cursor, within ``limit``."""
        return _capped(self.ids | other.ids, min(self.below, other.below), limit)

    def capped(self, limit: int) -> Boundary:
        """This boundary with at most ``limit`` identities (the smallest)."""
        return self if len(self.ids) <= limit else _capped(self.ids, self.below, limit)

    def covers(self, other: Boundary) -> bool:
        """Whether storing ``other`` over this one would add nothing."""
        return other.ids <= self.ids and self.below <= other.below

    def encode(self) -> dict[str, Any]:
        raw = b"".join(i.to_bytes(8, "big") for i in sorted(self.ids))
        encoded: dict[str, Any] = {"boundary": base64.b64encode(raw).decode("ascii")}
        if not self.complete:
            encoded["boundary_below"] = f"{self.below:016x}" if self.below >= 0 else "-"
        return encoded

    @classmethod
    def decode(cls, stored: dict[str, Any]) -> Boundary:
        """The boundary of a stored watermark (also the older list-of-hex form)."""
        raw, below = stored.get("boundary") or "", stored.get("boundary_below")
        try:
            if isinstance(raw, list):
                ids = frozenset(int(h, 16) for h in raw)
            else:
                data = base64.b64decode(raw, validate=True)
                if len(data) % 8:
                    raise ValueError("not a whole number of identities")
                ids = frozenset(int.from_bytes(data[i:i + 8], "big")
                                for i in range(0, len(data), 8))
            cover = _ALL if below is None else -1 if below == "-" else int(below, 16)
        except (TypeError, ValueError, binascii.Error) as exc:
            raise CursorTypeError(f"the stored watermark's boundary {raw!r:.60} is not one "
                                  f"this library wrote: {exc}") from exc
        return cls(ids, cover)


class BoundaryBuilder:
    """Collects the identities of one run's rows at its largest cursor, bounded in memory.

    Identities above the current ``below`` are not kept; once more than twice ``limit``
    are held, the set is cut to the ``limit`` smallest.
    """

    def __init__(self, limit: int = BOUNDARY_LIMIT) -> None:
        self._limit = limit
        self._ids: set[int] = set()
        self._below = _ALL

    def clear(self) -> None:
        self._ids.clear()
        self._below = _ALL

    def add(self, ident: int) -> None:
        if ident <= self._below:
            self._ids.add(ident)
            if len(self._ids) > 2 * self._limit:
                cut = _capped(self._ids, self._below, self._limit)
                self._ids, self._below = set(cut.ids), cut.below

    def build(self) -> Boundary:
        return _capped(self._ids, self._below, self._limit)

"""``Checkpoint``: the committed position of a paginated or batched loop, in a task store.

How it works: a checkpoint reads its key once when opened. ``commit(position)`` records
the position in memory and writes it to the store when the :class:`FlushPolicy` says so
(every N commits, or at the first commit T seconds after the last write); ``flush``
writes a pending position now. ``resume(iterable, key=None)`` skips the items up to and
including the committed one (compared by canonical JSON of ``key(item)``, so a tuple
matches the list it was stored as) and commits each later item once the loop body for
it has finished, that is when the loop asks for the next item; at the end of the loop
the last position is written. Leaving the ``with`` block (or the decorated function)
writes what is pending, whether it raised or not: every pending position belongs to an
item whose body finished. With ``clear_on_success`` a clean exit deletes the key instead.

What it does not do: commit the item whose body raised or ``break``-ed out of the loop
(it is redone once); keep more than one position per key (two loops need two keys);
write from a background thread (``every_seconds`` is checked at commit time).

Known limits: a SIGKILL loses the pending positions, so a retry redoes at most ``every``
items in all (up to ``every - 1`` pending commits plus the item in flight), or
``every_seconds`` of work plus the item in flight.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from resumable._context import TaskStoreLike
from resumable._errors import CheckpointMismatchError
from store_client import encode_value, validate_key

__all__ = ["Checkpoint", "FlushPolicy", "open_checkpoint"]

T = TypeVar("T")
Clock = Callable[[], float]


@dataclass(frozen=True)
class FlushPolicy:
    """When pending commits are written: after ``every`` commits or ``every_seconds``.

    Neither given means every commit is written. Validated on construction.
    """

    every: int | None = None
    every_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.every is not None and (isinstance(self.every, bool)
                                       or not isinstance(self.every, int) or self.every < 1):
            raise ValueError(f"every must be an int >= 1, got {self.every!r}")
        if self.every_seconds is not None and (
                isinstance(self.every_seconds, bool)
                or not isinstance(self.every_seconds, (int, float))
                or not self.every_seconds > 0 or self.every_seconds == float("inf")):
            raise ValueError(f"every_seconds must be a number > 0, got {self.every_seconds!r}")

    def due(self, pending: int, seconds_since_write: float) -> bool:
        """Whether ``pending`` commits, the oldest ``seconds_since_write`` old, are due."""
        if self.every is None and self.every_seconds is None:
            return pending >= 1
        return ((self.every is not None and pending >= self.every)
                or (self.every_seconds is not None
                    and seconds_since_write >= self.every_seconds))


def _canonical(value: object, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be a JSON value (int, str, list, dict...) to be "
                        f"stored as a checkpoint position, got {value!r:.80}") from exc


class _Seek:
    """Pure: finds the committed position in an iterable's stream of item keys."""

    def __init__(self, position: object, key: Callable[[Any], object] | None) -> None:
        self.position = position
        self._key = key
        self._target = None if position is None else _canonical(position, "position")
        self.found = position is None

    def _key_of(self, item: object) -> object:
        return self._key(item) if self._key is not None else item

    def position_of(self, item: object) -> object:
        """The JSON form of ``key(item)`` (a tuple becomes the list it is stored as)."""
        key = self._key_of(item)
        if type(key) in (int, str):  # the common case, already its own JSON form
            return key
        if key is None:
            raise TypeError(f"resume's key(item) returned None for {item!r:.80}; "
                            "a position must be a JSON value other than None")
        return json.loads(_canonical(key, "resume's key(item)"))

    def skip(self, item: object) -> bool:
        """True while ``item`` is at or before the committed position."""
        if self.found:
            return False
        if _canonical(self._key_of(item), "resume's key(item)") == self._target:
            self.found = True
        return True

    def check_found(self) -> None:
        if not self.found:
            raise CheckpointMismatchError(
                f"the committed position {self.position!r:.80} is not in the iterable given "
                "to resume(), so where to continue is unknown; the input changed between "
                "tries (clear the checkpoint to start over)", position=self.position)


class Checkpoint:
    """The committed position of one loop, kept under ``key`` in a task store.

    Use it through ``@checkpoint`` or :func:`open_checkpoint`. ``position`` is the last
    position given to :meth:`commit` (written or pending), or the stored one, or None.
    """

    def __init__(self, store: TaskStoreLike, key: str, *, policy: FlushPolicy | None = None,
                 clear_on_success: bool = False, clock: Clock = time.monotonic) -> None:
        self._store = store
        self.key = validate_key(key)
        self.policy = policy or FlushPolicy()
        self.clear_on_success = clear_on_success
        self._clock = clock
        self._position: object = store.get(self.key)
        self._pending = 0
        self._written_at = clock()

    def __repr__(self) -> str:
        return f"Checkpoint(key={self.key!r}, position={self._position!r:.60})"

    @property
    def position(self) -> Any:
        """The last committed position (None if nothing was ever committed)."""
        return self._position

    @property
    def pending(self) -> int:
        """How many commits are not yet written to the store."""
        return self._pending

    def _note(self, position: object, *, checked: bool = False) -> bool:
        """Record ``position`` unless it is due to be written; True if it is due.

        A due position is recorded by :meth:`_write` once the store took it (the store's
        ``set`` checks it); one held back is checked here, so a bad position fails at its
        commit, not at a later flush. Either way a bad position is never recorded.
        """
        if self.policy.due(self._pending + 1, self._clock() - self._written_at):
            return True
        if not checked:
            encode_value(self.key, position)
        self._position = position
        self._pending += 1
        return False

    def commit(self, position: object) -> None:
        """Commit ``position`` (a JSON value, not None): its work is done."""
        if self._note(position):
            self._write(position)

    async def acommit(self, position: object) -> None:
        """Async :meth:`commit`."""
        if self._note(position):
            await asyncio.to_thread(self._write, position)

    def _write(self, position: object) -> None:
        self._store.set(self.key, position)
        self._position, self._pending, self._written_at = position, 0, self._clock()

    def flush(self) -> None:
        """Write the pending position to the store now."""
        if self._pending:
            self._write(self._position)

    async def aflush(self) -> None:
        """Async :meth:`flush`."""
        await asyncio.to_thread(self.flush)

    def clear(self) -> None:
        """Delete the checkpoint: the next run starts from the beginning."""
        self._store.delete(self.key)
        self._position = None
        self._pending = 0

    def resume(self, iterable: Iterable[T], key: Callable[[T], object] | None = None
               ) -> Iterator[T]:
        """Yield the items after the committed one, committing each once its body is done."""
        seek = _Seek(self._position, key)
        for item in iterable:
            if seek.skip(item):
                continue
            yield item
            position = seek.position_of(item)
            if self._note(position, checked=True):
                self._write(position)
        seek.check_found()
        self.flush()

    async def aresume(self, iterable: Iterable[T] | AsyncIterable[T],
                      key: Callable[[T], object] | None = None) -> AsyncIterator[T]:
        """Async :meth:`resume` over a sync or async iterable."""
        seek = _Seek(self._position, key)
        async for item in _as_async(iterable):
            if seek.skip(item):
                continue
            yield item
            position = seek.position_of(item)
            if self._note(position, checked=True):
                await asyncio.to_thread(self._write, position)
        seek.check_found()
        await self.aflush()

    def close(self, *, succeeded: bool) -> None:
        """End the loop's run: clear on success if asked, else write what is pending."""
        if succeeded and self.clear_on_success:
            self.clear()
        else:
            self.flush()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(succeeded=exc_type is None)

    async def __aenter__(self) -> Checkpoint:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.to_thread(self.close, succeeded=exc_type is None)


async def _as_async(iterable: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    if isinstance(iterable, AsyncIterable):
        async for item in iterable:
            yield item
    else:
        for item in iterable:
            yield item


def open_checkpoint(task_store: TaskStoreLike, key: str, *, every: int | None = None,
                    every_seconds: float | None = None,
                    clear_on_success: bool = False) -> Checkpoint:
    """Open the checkpoint ``key`` in ``task_store``, for code that cannot use a decorator.

    ``with open_checkpoint(store, "pages") as cp:`` writes pending commits when the block
    ends (and clears the key on a clean exit if ``clear_on_success``).
    """
    return Checkpoint(task_store, key, policy=FlushPolicy(every, every_seconds),
                      clear_on_success=clear_on_success)

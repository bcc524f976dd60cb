"""``@checkpoint`` and ``@watermark``: the decorators over ``Checkpoint`` and ``Window``.

How it works: each decorator validates its configuration once, at decoration time (a
``FlushPolicy`` or a ``WatermarkSpec``, both frozen and never changed by a call), and
hands ``resumable._injection.decorate`` a factory that opens one call: it finds the
store (``resumable._context``: the call-time ``task_store=``/``asset_store=``, the
decorator's ``store=`` client, the running Airflow task, the default ``connect()``
client), opens the checkpoint or window, and says how the call ends. A checkpointed call
that returns clears its key (``clear_on_success``, the default) or writes its last
position; one that raises writes the positions already committed. A watermarked call
that returns observes the rows it returned if it neither filtered nor observed any, then
commits the cursor; one that raises stores nothing.

Any callable ``inspect.signature`` understands may be decorated: a function, a bound
method, a ``functools.partial``, an instance with ``__call__`` (``resumable._injection``).
A checkpoint's key defaults to the function's name (a partial's function's); a callable
without one (an instance, a lambda) needs ``key=``, refused at decoration otherwise. Keys
are validated at decoration too.

What it does not do: decorate generator functions, or run the store I/O of an ``async``
function on the event loop (it runs in a worker thread).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from resumable._checkpoint import Checkpoint, FlushPolicy
from resumable._context import resolve_asset_store, resolve_task_store
from resumable._cursor import CursorValue
from resumable._injection import callable_name, decorate, describe, find_injected
from resumable._watermark_spec import Edge, LastValueFunc, OnMissing, RowOrder, WatermarkSpec
from resumable._window import Window, is_rows, window_for
from store_client import StoreClient, validate_key

__all__ = ["checkpoint", "watermark"]

R = TypeVar("R")
# The decorated function takes the user's parameters minus the injected one, plus the
# call-time ``task_store=``/``asset_store=``: typing cannot spell that, so the decorated
# function is typed ``Callable[..., R]`` (its return type is kept).


class Decorator(Protocol):
    """What ``checkpoint(...)`` and ``watermark(...)`` return."""

    def __call__(self, fn: Callable[..., R], /) -> Callable[..., R]: ...


def _check_client(store: object, decorator: str) -> StoreClient | None:
    if store is not None and not isinstance(store, StoreClient):
        raise TypeError(f"{decorator}: store= must be a StoreClient from "
                        f"store_client.connect(), got {type(store).__name__}")
    return store


def _checkpoint_key(fn: Callable[..., Any]) -> str:
    """The default key of ``fn``'s checkpoint: its stable name, else ``TypeError``."""
    name = callable_name(fn)
    if name is None:
        raise TypeError(f"@checkpoint: {describe(fn)} has no name to key its checkpoint by "
                        "(it is not a named function, method or functools.partial of one); "
                        'pass key=, e.g. @checkpoint(key="pages")')
    return validate_key(name)


class _CheckpointCall:
    def __init__(self, cp: Checkpoint) -> None:
        self.value = cp

    def finish(self, result: object) -> None:
        self.value.close(succeeded=True)

    def abort(self) -> None:
        self.value.close(succeeded=False)


class _WindowCall:
    def __init__(self, window: Window) -> None:
        self.value = window

    def finish(self, result: object) -> None:
        if not self.value.used and is_rows(result):
            self.value.observe(result)  # type: ignore[arg-type]
        self.value.commit()

    def abort(self) -> None:
        """Nothing is stored when the load raised."""


def checkpoint(*, key: str | None = None, every: int | None = None,
               every_seconds: float | None = None, clear_on_success: bool = True,
               store: StoreClient | None = None) -> Decorator:
    """Resume a paginated or batched function after the last position it committed.

    The function's parameter annotated :class:`Checkpoint` receives the checkpoint kept
    under ``key`` (default: the function's name; a ``functools.partial``'s function's;
    a callable with no name, such as a class instance, must pass ``key=``) in the task's
    store. ``every`` / ``every_seconds`` batch the writes (a crash redoes at most that
    much work). With ``clear_on_success`` the key is deleted when the function returns,
    so a cleared and re-run task starts over. Outside Airflow, call the function with
    ``task_store=`` (a task store or a ``TaskScope``).
    """
    policy = FlushPolicy(every, every_seconds)
    if not isinstance(clear_on_success, bool):
        raise TypeError(f"clear_on_success must be True or False, got {clear_on_success!r:.60}")
    client = _check_client(store, "@checkpoint")
    if key is not None:
        validate_key(key)

    def wrap(fn: Callable[..., R]) -> Callable[..., R]:
        name = find_injected(fn, Checkpoint, "@checkpoint")
        cp_key = key if key is not None else _checkpoint_key(fn)
        who = f"{describe(fn)} (@checkpoint)"

        def open_call(given: object) -> _CheckpointCall:
            task_store = resolve_task_store(given, client, who)
            return _CheckpointCall(Checkpoint(task_store, cp_key, policy=policy,
                                              clear_on_success=clear_on_success))

        return decorate(fn, injected=name, store_kwarg="task_store", decorator="@checkpoint",
                        open_call=open_call)

    return wrap


def _asset_name(asset: object) -> str:
    if isinstance(asset, str) and asset:
        return asset
    name = getattr(asset, "name", None) or getattr(asset, "uri", None)
    if isinstance(name, str) and name:
        return name
    raise TypeError(f"@watermark: the first argument must be an Airflow Asset or an asset "
                    f"name (str), got {asset!r:.80}")


def watermark(asset: object, *, cursor: str | Callable[[Any], Any],
              initial: CursorValue | None = None,
              primary_key: str | Sequence[str] | Callable[[Any], Any] | None = None,
              lag: Any = None, end: CursorValue | None = None,
              on_missing_cursor: OnMissing = "raise", key: str = "watermark",
              last_value_func: LastValueFunc = max, range_start: Edge = "closed",
              range_end: Edge = "open", row_order: RowOrder | None = None,
              allow_external_schedulers: bool = False,
              store: StoreClient | None = None) -> Decorator:
    """Load incrementally: the asset's cursor advances only when the function returned.

    The function's parameter annotated :class:`Window` receives the window opened on
    the asset's store: ``start`` (the stored cursor minus ``lag`` but never before
    ``initial``, or ``initial`` on the first run),
    ``end``, ``filter(rows)`` and ``observe(rows)``. On return the stored cursor becomes
    the largest one observed (never the clock, never backwards) through compare-and-set;
    on an exception nothing is stored. ``end=`` runs a bounded backfill ``[initial,
    end)`` that neither reads nor writes the stored cursor. As in dlt:
    ``last_value_func`` (``max``, ``min`` or a callable), ``range_start``/``range_end``
    (``"open"``/``"closed"``), ``row_order`` (``"asc"``/``"desc"``: ``filter`` stops at
    the first row past the window) and ``allow_external_schedulers`` (inside Airflow, the
    window is the run's data interval). Outside Airflow, a call may pass
    ``asset_store=`` to use a given asset store.
    """
    name = _asset_name(asset)
    spec = WatermarkSpec(
        cursor, initial=initial,
        primary_key=primary_key,  # type: ignore[arg-type]
        lag=lag, end=end, on_missing_cursor=on_missing_cursor, key=key,
        last_value_func=last_value_func, range_start=range_start, range_end=range_end,
        row_order=row_order, allow_external_schedulers=allow_external_schedulers)
    client = _check_client(store, "@watermark")

    def wrap(fn: Callable[..., R]) -> Callable[..., R]:
        injected = find_injected(fn, Window, "@watermark")
        who = f"{describe(fn)} (@watermark)"

        def open_call(given: object) -> _WindowCall:
            asset_store = (None if spec.end is not None
                           else resolve_asset_store(name, given, client, who))
            return _WindowCall(window_for(spec, asset_store))

        return decorate(fn, injected=injected, store_kwarg="asset_store",
                        decorator="@watermark", open_call=open_call)

    return wrap

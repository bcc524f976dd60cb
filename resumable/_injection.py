"""Injecting a ``Checkpoint`` or ``Window`` into a decorated function, sync or async.

How it works: :func:`find_injected` picks the parameter annotated with the injected
class (by the class itself, or by name when annotations are strings). :func:`decorate`
returns a wrapper whose ``__signature__`` and ``__annotations__`` leave that parameter
out, so Airflow's ``@task`` (or any caller) sees only the user's own parameters. On each
call the wrapper binds the caller's arguments to that reduced signature (so a wrong call
raises the usual ``TypeError``), pops the call-time store argument (``task_store=`` or
``asset_store=``) unless the function declares one itself, opens a :class:`Call` through
the decorator's factory, calls the function with the injected value, then finishes or
aborts the call. Coroutine functions get the same wrapper with the call's store I/O run
in a worker thread (``asyncio.to_thread``): one decision path for sync and async.

What it does not do: decorate generator functions (their body runs after the wrapper
returns, so success cannot be told apart from abandonment): they raise ``TypeError`` at
decoration time.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import typing
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

__all__ = ["Call", "decorate", "find_injected"]

log = logging.getLogger("resumable")

F = TypeVar("F", bound=Callable[..., Any])


class Call(Protocol):
    """One call of a decorated function: the value to inject and how the call ends."""

    @property
    def value(self) -> object: ...

    def finish(self, result: object) -> None:
        """The function returned ``result``: make its progress durable."""

    def abort(self) -> None:
        """The function raised: keep only what is safe to keep (may itself raise)."""


def _string_annotation_name(annotation: object) -> str | None:
    """``"Checkpoint"`` for the string annotations ``"Checkpoint"``/``"resumable.Checkpoint"``."""
    return annotation.rsplit(".", 1)[-1] if isinstance(annotation, str) else None


def find_injected(fn: Callable[..., Any], cls: type, decorator: str) -> str:
    """The name of ``fn``'s parameter annotated ``cls``; ``TypeError`` if there is none."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # unresolvable forward references: fall back to the raw strings
        hints = {}
    for name, parameter in signature.parameters.items():
        annotation = hints.get(name, parameter.annotation)
        if annotation is cls or _string_annotation_name(annotation) == cls.__name__:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(f"{decorator}: {fn.__qualname__}'s parameter {name!r} "
                                f"annotated {cls.__name__} cannot be *args or **kwargs")
            return name
    raise TypeError(f"{decorator}: {fn.__qualname__} has no parameter annotated "
                    f"{cls.__name__}; add one (e.g. `def {fn.__name__}(x: {cls.__name__}, "
                    "...)`) to receive it")


def decorate(fn: F, *, injected: str, store_kwarg: str, decorator: str,
             open_call: Callable[[object], Call]) -> F:
    """Wrap ``fn`` so each call gets ``open_call(store_arg).value`` as ``injected``."""
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"{decorator} cannot wrap the generator function {fn.__qualname__}: "
                        "its body runs after the call returns; loop inside a plain function")
    signature = inspect.signature(fn)
    reduced = signature.replace(parameters=[
        p for p in signature.parameters.values() if p.name != injected])
    pops_store = store_kwarg not in signature.parameters

    def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]
                ) -> tuple[object, Callable[[object], tuple[tuple[Any, ...], dict[str, Any]]]]:
        store_arg = kwargs.pop(store_kwarg, None) if pops_store else None
        bound = reduced.bind(*args, **kwargs)
        bound.apply_defaults()

        def with_value(value: object) -> tuple[tuple[Any, ...], dict[str, Any]]:
            arguments = {name: value if name == injected else bound.arguments[name]
                         for name in signature.parameters}
            full = inspect.BoundArguments(signature, arguments)
            return full.args, full.kwargs

        return store_arg, with_value

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            store_arg, with_value = prepare(args, kwargs)
            call = await asyncio.to_thread(open_call, store_arg)
            call_args, call_kwargs = with_value(call.value)
            try:
                result = await fn(*call_args, **call_kwargs)
            except BaseException:
                await asyncio.to_thread(_abort, call, fn)
                raise
            await asyncio.to_thread(call.finish, result)
            return result

        wrapper: Callable[..., Any] = async_wrapper
    else:
        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            store_arg, with_value = prepare(args, kwargs)
            call = open_call(store_arg)
            call_args, call_kwargs = with_value(call.value)
            try:
                result = fn(*call_args, **call_kwargs)
            except BaseException:
                _abort(call, fn)
                raise
            call.finish(result)
            return result

        wrapper = sync_wrapper
    wrapper.__signature__ = reduced  # type: ignore[attr-defined]
    wrapper.__annotations__ = {k: v for k, v in getattr(fn, "__annotations__", {}).items()
                               if k != injected}
    return typing.cast(F, wrapper)


def _abort(call: Call, fn: Callable[..., Any]) -> None:
    """Abort ``call`` without hiding the function's own exception behind a store error."""
    try:
        call.abort()
    except Exception:
        log.warning("%s raised, and saving its progress failed too", fn.__qualname__,
                    exc_info=True)

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

Any callable ``inspect.signature`` understands can be wrapped: a function, a bound
method, a ``functools.partial`` (of any of these), a class instance with ``__call__``.
Annotations, async-ness and the wrapper's name and docstring come from the code that
runs (:func:`code_of`: the partial's function, the instance's ``__call__``), and
:func:`callable_name` gives the stable name a checkpoint key may default to (None for a
lambda or an instance). A sync wrapper whose callable returns an awaitable anyway (its
async-ness was hidden) raises ``TypeError`` rather than declare unrun work done.

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

__all__ = ["Call", "callable_name", "code_of", "decorate", "describe", "find_injected"]

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


def _unpartial(fn: Callable[..., Any]) -> Callable[..., Any]:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _is_code(fn: object) -> bool:
    """Whether ``fn`` is a function, method, builtin or class (not an instance to call)."""
    return (inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn)
            or isinstance(fn, type))


def code_of(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The callable whose code a call of ``fn`` runs: through partials, to ``__call__``."""
    target = _unpartial(fn)
    if _is_code(target) or not callable(target):
        return target
    call: Callable[..., Any] = type(target).__call__
    return call


def callable_name(fn: Callable[..., Any]) -> str | None:
    """``fn``'s stable name (a partial's function's), or None (a lambda, an instance)."""
    name = getattr(_unpartial(fn), "__name__", None)
    return name if isinstance(name, str) and name.isidentifier() else None


def describe(fn: Callable[..., Any]) -> str:
    """``fn`` for a message: its qualified name, or its class's, and whether a partial."""
    target = _unpartial(fn)
    name = getattr(target, "__qualname__", None) if _is_code(target) else None
    text = name if isinstance(name, str) else f"a {type(target).__qualname__} instance"
    return f"functools.partial({text})" if target is not fn else text


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(code_of(fn))
    except Exception:  # unresolvable forward references: fall back to the raw strings
        return {}


def find_injected(fn: Callable[..., Any], cls: type, decorator: str) -> str:
    """The name of ``fn``'s parameter annotated ``cls``; ``TypeError`` if there is none."""
    signature = inspect.signature(fn)
    hints = _hints(fn)
    for name, parameter in signature.parameters.items():
        annotation = hints.get(name, parameter.annotation)
        if annotation is cls or _string_annotation_name(annotation) == cls.__name__:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(f"{decorator}: {describe(fn)}'s parameter {name!r} "
                                f"annotated {cls.__name__} cannot be *args or **kwargs")
            return name
    raise TypeError(f"{decorator}: {describe(fn)} has no parameter annotated "
                    f"{cls.__name__}; add one (e.g. `def {callable_name(fn) or 'f'}"
                    f"(x: {cls.__name__}, ...)`) to receive it")


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(code_of(fn))


def _is_generator(fn: Callable[..., Any]) -> bool:
    return any(inspect.isgeneratorfunction(f) or inspect.isasyncgenfunction(f)
               for f in (fn, code_of(fn)))


def _identify(wrapper: Callable[..., Any], fn: Callable[..., Any]) -> None:
    """Give ``wrapper`` ``fn``'s name, module and docstring (a partial's function's)."""
    if inspect.isfunction(fn) or inspect.ismethod(fn):
        functools.update_wrapper(wrapper, fn)
        return
    target = _unpartial(fn)
    source = target if _is_code(target) else type(target)
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        if isinstance(value := getattr(source, attribute, None), str):
            setattr(wrapper, attribute, value)
    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]


def decorate(fn: F, *, injected: str, store_kwarg: str, decorator: str,
             open_call: Callable[[object], Call]) -> F:
    """Wrap ``fn`` so each call gets ``open_call(store_arg).value`` as ``injected``."""
    if _is_generator(fn):
        raise TypeError(f"{decorator} cannot wrap the generator function {describe(fn)}: "
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

    if _is_async(fn):
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
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            store_arg, with_value = prepare(args, kwargs)
            call = open_call(store_arg)
            call_args, call_kwargs = with_value(call.value)
            try:
                result = fn(*call_args, **call_kwargs)
                if inspect.isawaitable(result):
                    _refuse_awaitable(result, fn, decorator)
            except BaseException:
                _abort(call, fn)
                raise
            call.finish(result)
            return result

        wrapper = sync_wrapper
    _identify(wrapper, fn)
    wrapper.__signature__ = reduced  # type: ignore[attr-defined]
    keeps_return = not isinstance(_unpartial(fn), type)  # a class returns an instance
    wrapper.__annotations__ = {
        k: v for k, v in getattr(code_of(fn), "__annotations__", {}).items()
        if k != injected and (k in reduced.parameters or (k == "return" and keeps_return))}
    return typing.cast(F, wrapper)


def _refuse_awaitable(result: object, fn: Callable[..., Any], decorator: str) -> None:
    """A sync call returned an awaitable: its work has not run, so it did not succeed."""
    close = getattr(result, "close", None)
    if inspect.iscoroutine(result) and callable(close):
        close()  # never awaited: no "coroutine was never awaited" warning
    raise TypeError(f"{decorator}: {describe(fn)} returned {type(result).__name__} "
                    "instead of running: decorate an `async def` function (or a callable "
                    "whose __call__ is one) so the wrapper awaits it")


def _abort(call: Call, fn: Callable[..., Any]) -> None:
    """Abort ``call`` without hiding the function's own exception behind a store error."""
    try:
        call.abort()
    except Exception:
        log.warning("%s raised, and saving its progress failed too", describe(fn),
                    exc_info=True)

"""Giving an Airflow operator built on the mixin an ``__init__`` Airflow can wrap.

How it works: Airflow's ``BaseOperatorMeta`` wraps only an ``__init__`` a class defines
itself, and its wrapper expects the instance's ``__init__`` to be wrapped.
:func:`install_plain_init` gives a subclass without one a thin ``__init__`` (before the
metaclass looks, from ``__init_subclass__``), whose signature
(:func:`plain_init_signature`) declares the keywords of the plain ``__init__`` methods
above Airflow's, so that ``partial()``/``expand()`` accept them.

What it does not do: import Airflow, or touch classes that are not Airflow operators.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["install_plain_init", "plain_init_signature"]


def plain_init_signature(cls: type) -> inspect.Signature:
    """``(self, *, <the plain __init__ parameters before BaseOperator>, **kwargs)``.

    Airflow checks ``partial()``/``expand()`` keywords against the signatures of the
    ``__init__`` methods its metaclass wrapped; the mixin's own and the operator's plain
    ``__init__`` are not among them, so the generated ``__init__`` declares them.
    """
    seen: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__[1:]:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        if hasattr(init, "_BaseOperatorMeta__param_names"):
            break  # Airflow's own, wrapped __init__ methods: it knows those
        for name, param in list(inspect.signature(init).parameters.items())[1:]:
            if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                seen.setdefault(name, param.replace(kind=param.KEYWORD_ONLY))
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    kwargs = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
    return inspect.Signature([self_param, *seen.values(), kwargs])


def install_plain_init(cls: type[Any]) -> None:
    """Give ``cls`` a thin ``__init__`` if it is an Airflow operator without one."""
    if "__init__" in cls.__dict__ or not hasattr(type(cls), "_apply_defaults"):
        return

    def __init__(self: Any, *args: Any, **init_kwargs: Any) -> None:
        super(cls, self).__init__(*args, **init_kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    __init__.__signature__ = plain_init_signature(cls)  # type: ignore[attr-defined]
    cls.__init__ = __init__

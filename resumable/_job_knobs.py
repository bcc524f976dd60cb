"""Checking ``ResumableJobMixin``'s knobs before anything is read, written or submitted.

How it works: :data:`KNOBS` lists each knob with its kind. :func:`knob_problem` is pure:
it returns the error a value would raise, or None. :func:`check_knobs` raises the first
problem of a mapping of knob values. The mixin checks the keywords it is given in
``__init__``, and every knob (:func:`knob_values`, class attributes included) when
``execute_resumable`` starts, before the task store or ``submit_job`` is touched.

=========================  ===========================================================
knob                       allowed
=========================  ===========================================================
poll_interval              a finite int or float of seconds, 0 to 86400 (not a bool)
poll_max_interval          the same
poll_timeout               None (never), or a finite int or float of seconds > 0
max_resubmits              an int >= 0 (not a bool)
max_lookup_errors          an int >= 1
max_unknown_statuses       an int >= 1
durable, cancel_on_kill,   a bool
deferrable
external_id_key            a task-store key (store_client's rules: a non-empty str of at
                           most 250 characters) whose record key ``resumable.job/<key>``
                           is one too
=========================  ===========================================================

A wrong type raises :class:`~resumable._errors.JobConfigurationTypeError` (also a
``TypeError``), a wrong value :class:`~resumable._errors.JobConfigurationError` (also a
``ValueError``); both name the knob and the value.

``store`` (a ``StoreClient``, not JSON: never part of :func:`knob_values`, which the
deferral sends to the triggerer) is checked apart, by :func:`check_store`.

What it does not do: coerce (``"5"`` stays wrong), or check the hooks or state sets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from resumable._errors import JobConfigurationError, JobConfigurationTypeError
from resumable._job_record import meta_key
from store_client import InvalidKeyError, validate_key

__all__ = ["KNOBS", "MAX_SECONDS", "Knob", "check_knobs", "check_store", "knob_problem",
           "knob_values"]

#: The longest ``poll_interval``/``poll_max_interval`` (one day).
MAX_SECONDS: Final = 86400.0


@dataclass(frozen=True, slots=True)
class Knob:
    """One knob: its name, its kind, and (for counts) its minimum."""

    name: str
    kind: Literal["seconds", "timeout", "count", "flag", "key"]
    minimum: int = 0


KNOBS: Final = (
    Knob("poll_interval", "seconds"),
    Knob("poll_max_interval", "seconds"),
    Knob("poll_timeout", "timeout"),
    Knob("claim_timeout", "seconds"),
    Knob("not_found_grace", "seconds"),
    Knob("max_resubmits", "count", 0),
    Knob("max_lookup_errors", "count", 1),
    Knob("max_unknown_statuses", "count", 1),
    Knob("durable", "flag"),
    Knob("cancel_on_kill", "flag"),
    Knob("deferrable", "flag"),
    Knob("resubmit_on_clear", "flag"),
    Knob("external_id_key", "key"),
)
_BY_NAME: Final = {knob.name: knob for knob in KNOBS}
Problem = JobConfigurationError | None


def _type_error(knob: Knob, value: object, wanted: str) -> JobConfigurationTypeError:
    return JobConfigurationTypeError(
        f"{knob.name} must be {wanted}, got {type(value).__name__}: {value!r:.80}",
        knob=knob.name, value=value)


def _value_error(knob: Knob, value: object, wanted: str) -> JobConfigurationError:
    return JobConfigurationError(f"{knob.name} must be {wanted}, got {value!r:.80}",
                                 knob=knob.name, value=value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seconds(knob: Knob, value: object) -> Problem:
    wanted = f"a finite number of seconds from 0 to {MAX_SECONDS:g}"
    if not _is_number(value):
        return _type_error(knob, value, f"a number of seconds (int or float), {wanted}")
    assert isinstance(value, (int, float))
    if isinstance(value, float) and not math.isfinite(value):
        return _value_error(knob, value, wanted)
    return None if 0 <= value <= MAX_SECONDS else _value_error(knob, value, wanted)


def _timeout(knob: Knob, value: object) -> Problem:
    wanted = "None (no timeout) or a finite number of seconds > 0"
    if value is None:
        return None
    if not _is_number(value):
        return _type_error(knob, value, wanted)
    assert isinstance(value, (int, float))
    if isinstance(value, float) and not math.isfinite(value):
        return _value_error(knob, value, wanted)
    return None if value > 0 else _value_error(knob, value, wanted)


def _count(knob: Knob, value: object) -> Problem:
    wanted = f"an int >= {knob.minimum}"
    if not isinstance(value, int) or isinstance(value, bool):
        return _type_error(knob, value, wanted)
    return None if value >= knob.minimum else _value_error(knob, value, wanted)


def _flag(knob: Knob, value: object) -> Problem:
    return None if isinstance(value, bool) else _type_error(knob, value, "True or False")


def _key(knob: Knob, value: object) -> Problem:
    if not isinstance(value, str):
        return _type_error(knob, value, "a task-store key (str)")
    try:
        validate_key(value)
        validate_key(meta_key(value))
    except InvalidKeyError as exc:
        return _value_error(knob, value, "a valid task-store key, also as "
                                         f"{meta_key('<key>')!r}: {exc}")
    return None


_CHECKS: Final[dict[str, Callable[[Knob, object], Problem]]] = {
    "seconds": _seconds, "timeout": _timeout, "count": _count, "flag": _flag, "key": _key}


def knob_problem(name: str, value: object) -> JobConfigurationError | None:
    """The error knob ``name`` set to ``value`` raises, or None if the value is fine."""
    knob = _BY_NAME.get(name)
    if knob is None:
        raise KeyError(f"{name!r} is not a ResumableJobMixin knob")
    return _CHECKS[knob.kind](knob, value)


def check_knobs(values: Mapping[str, object]) -> None:
    """Raise the first problem among ``values`` (knob name -> value), in ``KNOBS`` order."""
    unknown = set(values) - set(_BY_NAME)
    if unknown:
        raise KeyError(f"not ResumableJobMixin knobs: {sorted(unknown)}")
    for knob in KNOBS:
        if knob.name in values and (problem := knob_problem(knob.name, values[knob.name])):
            raise problem


def check_store(value: object) -> None:
    """``store`` must be None or a ``store_client.StoreClient`` (``connect(url)``)."""
    from store_client import StoreClient

    if value is not None and not isinstance(value, StoreClient):
        raise JobConfigurationTypeError(
            f"store must be None or a StoreClient from store_client.connect(), got "
            f"{type(value).__name__}: {value!r:.80}", knob="store", value=value)


def knob_values(operator: object) -> dict[str, object]:
    """Every knob's current value on ``operator`` (instance or class attribute)."""
    return {knob.name: getattr(operator, knob.name) for knob in KNOBS}

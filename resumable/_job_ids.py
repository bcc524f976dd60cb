"""Job IDs as the task store can hold them: normalised, then validated before the write.

How it works: :func:`normalise_job_id` turns tuples into lists, recursively (inside lists
and dicts too); any other value, and any value without a tuple in it, is returned as the
very object given. :func:`storable_job_id` normalises and validates with store_client's
own value rules (JSON only, no ``None``, no NaN), and refuses the rest with a
:class:`~resumable._errors.JobIdError` that names the hook, the type and the token.
:func:`store_job_id` then writes it with ``NEVER_EXPIRE``; a value the store itself
refuses (larger than its ``max_value_bytes``) becomes the same error. Every store
validates before it writes, so a refused ID leaves nothing behind.

Why the error says the job may exist: the ID arrives after ``submit_job`` ran. The
mixin wrote the intent record (phase ``submitting``, with the token) before the call and
leaves it, so the next try looks for the job with ``find_job(token)`` or submits again
with the same token, which a system that dedupes on it answers with the same job.

The normalised ID is what the mixin uses from then on, in this try and in the next, so
the hooks see the same value on every path (a list where ``submit_job`` gave a tuple).

What it does not do: convert anything else (sets, bytes, objects): a guess would store
an ID that no hook ever returned.
"""

from __future__ import annotations

from typing import Any

from resumable._context import TaskStoreLike
from resumable._errors import JobIdError
from store_client import NEVER_EXPIRE, InvalidValueError, encode_value

__all__ = ["normalise_job_id", "storable_job_id", "store_job_id", "unstorable_id_error"]


def normalise_job_id(value: Any) -> Any:
    """``value`` with every tuple in it turned into a list (``value`` itself if none)."""
    if isinstance(value, tuple):
        return [normalise_job_id(item) for item in value]
    if isinstance(value, list):
        items = [normalise_job_id(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        entries = {k: normalise_job_id(v) for k, v in value.items()}
        return value if all(entries[k] is v for k, v in value.items()) else entries
    return value


def unstorable_id_error(hook: str, value: Any, reason: str, token: str | None) -> JobIdError:
    """The error for an ID ``hook`` returned that the task store cannot hold."""
    return JobIdError(
        f"{hook} returned {type(value).__name__} {value!r:.80}, which the task store cannot "
        f"hold as a job ID ({reason}). The job may exist: the next try looks for it with "
        f"find_job({token!r}), or submits again with that token (a system that dedupes on "
        "it returns the same job). Return a str, int, or a list/dict of them.",
        hook=hook)


def storable_job_id(value: Any, *, key: str, hook: str, token: str | None) -> Any:
    """``value`` normalised, if the task store can hold it under ``key``; else ``JobIdError``."""
    if value is None:
        raise unstorable_id_error(hook, value, "None is not a job ID", token)
    try:
        job_id = normalise_job_id(value)
        encode_value(key, job_id)
    except InvalidValueError as exc:
        raise unstorable_id_error(hook, value, str(exc), token) from exc
    except RecursionError as exc:
        raise unstorable_id_error(hook, value, "nested too deeply", token) from exc
    return job_id


def store_job_id(store: TaskStoreLike, key: str, value: Any, *, hook: str,
                 token: str | None) -> Any:
    """Validate ``value``, store it under ``key`` forever, and return what was stored."""
    job_id = storable_job_id(value, key=key, hook=hook, token=token)
    try:
        store.set(key, job_id, retention=NEVER_EXPIRE)
    except InvalidValueError as exc:  # the store's own limits (max_value_bytes)
        raise unstorable_id_error(hook, value, str(exc), token) from exc
    return job_id

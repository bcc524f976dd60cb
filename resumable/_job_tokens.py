"""Idempotency tokens: deterministic per task instance and generation, or one-off.

How it works: :func:`idempotency_token_for` hashes the task scope (dag, run, task, map
index), the ID key and nothing else into ``rsm-<32 hex>-g<generation>`` (at most 64
characters, what Databricks accepts), so every try of a task instance derives the same
token for the same generation and a new one for the next; without a scope it hashes a
random seed that the job record keeps. :func:`token_for_record` picks the seed.
:func:`one_off_token` is a fresh random ``rsm-<32 hex>-once`` for a non-durable run: with
nothing stored there is no generation to count, and a fixed token would make a system
that dedupes on it hand every retry the same (failed) job.

What it does not do: use the try number (a retry must find its predecessor's job), or
store anything.
"""

from __future__ import annotations

import hashlib
import secrets

from resumable._job_record import JobRecord
from store_client import TaskScope

__all__ = ["idempotency_token_for", "one_off_token", "token_for_record"]


def idempotency_token_for(scope: TaskScope | None, external_id_key: str, generation: int,
                          seed: str | None = None) -> str:
    """A deterministic token (``rsm-<32 hex>-g<generation>``, at most 64 characters).

    Derived from the task scope (dag, run, task, map index), the ID key and the
    generation; never from the try number. Without a scope, from a stored random seed.
    """
    if scope is not None:
        basis = f"{scope.dag_id}\x1f{scope.run_id}\x1f{scope.task_id}\x1f{scope.map_index}"
    else:
        basis = f"seed\x1f{seed}"
    digest = hashlib.sha256(f"{basis}\x1f{external_id_key}".encode()).hexdigest()[:32]
    return f"rsm-{digest}-g{generation}"


def token_for_record(scope: TaskScope | None, external_id_key: str, record: JobRecord | None,
                     generation: int) -> tuple[str, str | None]:
    """The token of ``generation`` and the seed to keep (a new one without scope or seed)."""
    seed = record.seed if record is not None else None
    if scope is None and seed is None:
        seed = secrets.token_hex(16)
    return idempotency_token_for(scope, external_id_key, generation, seed), seed


def one_off_token() -> str:
    """A fresh random token (``rsm-<32 hex>-once``) for a submission nothing will retry."""
    return f"rsm-{secrets.token_hex(16)}-once"

"""What the mixin keeps in the task store about one external job, and how it reads it back.

How it works: two keys, both written with ``NEVER_EXPIRE``.

- ``external_id_key`` holds the bare job ID, exactly as Airflow's own
  ``ResumableJobMixin`` stores it, so either mixin can read what the other wrote.
- ``resumable.job/<external_id_key>`` holds a :class:`JobRecord` as a JSON object:
  generation, idempotency token, phase (``submitting`` before ``submit_job`` runs,
  ``submitted``, ``failed``, ``finished``), last status, timestamps, and Airflow's
  ``dag_run.clear_number`` at submission and at the finish (to tell a cleared task),
  whether the system was ever seen answering for the job, and the job's identity as
  the operator's ``get_job_identity`` reported it when first seen.

The bare ID is authoritative: when it is present the job exists, whatever the record
says (a crash may fall between the two writes). A record in phase ``submitting``
without an ID is an *intent*: a submission may or may not have reached the system.

What it does not do: talk to the store (the mixin does), or decide anything
(``_job_decision`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Final

__all__ = ["META_PREFIX", "JobRecord", "meta_key", "now_iso"]

META_PREFIX: Final = "resumable.job/"
_PHASES: Final = frozenset({"submitting", "submitted", "failed", "finished"})


def meta_key(external_id_key: str) -> str:
    """The task-store key of the job record kept beside ``external_id_key``."""
    return f"{META_PREFIX}{external_id_key}"


def now_iso() -> str:
    """The current UTC time as ISO 8601."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One external job as stored: ID (``None`` while only an intent), generation, token..."""

    external_id: Any = None
    generation: int = 0
    token: str | None = None
    phase: str = "submitting"
    status: Any = None
    submitted_at: str | None = None
    updated_at: str | None = None
    seed: str | None = None
    #: Airflow's ``dag_run.clear_number`` when the job was submitted or finished.
    clear_number: int | None = None
    #: True once the system answered a status for this job (it exists, it was seen).
    seen: bool = False
    #: What the system says identifies the job (``get_job_identity``), first seen.
    identity: Any = None

    @property
    def has_id(self) -> bool:
        """True when a job ID is stored (``0`` and ``""`` are IDs too)."""
        return self.external_id is not None

    @property
    def finished(self) -> bool:
        """True once ``on_job_finished`` ran for this job."""
        return self.phase == "finished"

    def evolve(self, **changes: Any) -> JobRecord:
        """A copy with ``changes`` and a fresh ``updated_at``."""
        return replace(self, updated_at=now_iso(), **changes)

    def to_json(self) -> dict[str, Any]:
        """The record as stored under ``meta_key`` (the ID lives under its own key)."""
        data = {"v": 1, "generation": self.generation, "token": self.token,
                "phase": self.phase, "status": self.status,
                "submitted_at": self.submitted_at, "updated_at": self.updated_at,
                "seed": self.seed, "clear_number": self.clear_number,
                "seen": self.seen or None, "identity": self.identity}
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def load(cls, external_id: Any, meta: Any) -> JobRecord | None:
        """Rebuild a record from the two stored values; ``None`` if nothing is stored.

        A bare ID without a record (written by Airflow's mixin, or by a crash between
        the two writes) becomes a record of generation 0 in phase ``submitted``.
        """
        if not isinstance(meta, dict):
            if external_id is None:
                return None
            return cls(external_id=external_id, phase="submitted")
        phase = meta.get("phase")
        generation = meta.get("generation", 0)
        return cls(
            external_id=external_id,
            generation=generation if type(generation) is int and generation >= 0 else 0,
            token=meta.get("token") if isinstance(meta.get("token"), str) else None,
            phase=phase if phase in _PHASES else "submitted",
            status=meta.get("status"),
            submitted_at=meta.get("submitted_at"),
            updated_at=meta.get("updated_at"),
            seed=meta.get("seed") if isinstance(meta.get("seed"), str) else None,
            clear_number=_count_or_none(meta.get("clear_number")),
            seen=meta.get("seen") is True,
            identity=meta.get("identity"),
        )

    def submitted_within(self, seconds: float, now: datetime) -> bool:
        """True if this record's job was submitted less than ``seconds`` before ``now``."""
        if not self.submitted_at:
            return False
        try:
            submitted = datetime.fromisoformat(self.submitted_at)
        except ValueError:
            return False
        return submitted.tzinfo is not None and (now - submitted).total_seconds() < seconds

    def cleared_since(self, clear_number: int | None) -> bool:
        """True if the task was cleared after this record's job was submitted or finished.

        ``clear_number`` is the running try's (None outside Airflow: never cleared). A
        record without one (older, or Airflow's own mixin) counts as clear number 0.
        """
        return clear_number is not None and clear_number > (self.clear_number or 0)


def _count_or_none(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None

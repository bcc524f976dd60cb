"""Airflow's data interval as a watermark window (dlt's ``allow_external_schedulers``).

How it works: :func:`data_interval` reads ``data_interval_start`` and
``data_interval_end`` from a task's context (a mapping, as Airflow gives it) and whether
the run is a backfill (``dag_run.run_type`` is ``"backfill"``). A window opened with the
opt-in on and an interval at hand runs over exactly ``[start, end)``, converted to the
cursor's type by :func:`resumable._cursor.coerce_to_cursor`; the stored cursor is not
read to place it. A scheduled or manual run still moves the stored cursor forward on
success (never backwards), so runs chain and the opt-in can be switched off later; a
backfill neither reads nor writes it.

What it does not do: import Airflow (the context is any mapping), or use an interval
with a missing edge (a manual run of a DAG without a timetable interval) or an empty one
(``start == end``: what Airflow 3's default ``CronTriggerTimetable`` gives every run of a
``schedule="@daily"`` DAG): the window is then the usual stored-cursor one. A DAG that
wants intervals uses ``CronDataIntervalTimetable`` (or ``DeltaDataIntervalTimetable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["DataInterval", "data_interval"]


@dataclass(frozen=True)
class DataInterval:
    """One Airflow run's data interval, and whether the run is a backfill."""

    start: datetime
    end: datetime
    backfill: bool = False

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise TypeError(f"data_interval_{name} must be a tz-aware datetime, "
                                f"got {value!r:.60}")
        if self.end < self.start:
            raise ValueError(f"data_interval_end ({self.end}) is before data_interval_start "
                             f"({self.start})")


def _run_type(context: Mapping[str, Any]) -> str:
    run = context.get("dag_run")
    kind = getattr(run, "run_type", None)
    return str(getattr(kind, "value", kind) or "")


def data_interval(context: Mapping[str, Any] | None) -> DataInterval | None:
    """The context's data interval, or None when it has none, an empty one, or no context."""
    if context is None:
        return None
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None or start == end:
        return None
    return DataInterval(start, end, backfill=_run_type(context) == "backfill")

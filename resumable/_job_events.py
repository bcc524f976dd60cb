"""What each resume decision is called in metrics, traces and logs: a pure table.

How it works: :func:`event_for` names the event a decision stands for, from the action
taken just before (a status asked about a job stored by an earlier try is a
*reconnect*; the same status after this try's own submission is not), the decision and
the classified status. :data:`EVENTS` says, for each event, the metric
(``resumable_job.<name>``), the ``resumable.decision`` a span records, and the log line
with its level and fields. The names, messages and fields of the five events Airflow's
own ``ResumableJobMixin`` emits (``fresh_submit``, ``reconnect_attempt``,
``reconnect_success``, ``already_succeeded``, ``terminal_resubmit``) and of its
``no_task_state_store`` warning are Airflow's, so dashboards, alerts and log searches
keep working after switching; the others are ours, for decisions Airflow does not make.

What it does not do: emit anything (:mod:`resumable._observe` does).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from resumable._job_decision import Action, Decision, StatusKind

__all__ = ["EVENTS", "Event", "event_for"]


@dataclass(frozen=True)
class Event:
    """One kind of moment in a job's life, as metrics, spans and logs show it."""

    name: str
    message: str
    level: int = logging.INFO
    fields: tuple[str, ...] = ("external_id_key",)
    decision: str | None = None  # the span's resumable.decision, when it decides
    counted: bool = True  # a resumable_job.<name> counter

    @property
    def metric(self) -> str:
        return f"resumable_job.{self.name}"


_KEY, _ID, _STATUS, _TOKEN = "external_id_key", "external_id", "status", "token"

EVENTS: dict[str, Event] = {e.name: e for e in (
    # Airflow's, with its messages and fields
    Event("fresh_submit", "No stored external ID found; submitting fresh job",
          logging.DEBUG, decision="fresh_submit"),
    Event("reconnect_attempt", "Stored external ID found; asking the job's status",
          logging.DEBUG, (_KEY, _ID)),
    Event("reconnect_success", "Reconnecting to existing job", logging.INFO,
          (_KEY, _ID, _STATUS), decision="reconnect"),
    Event("already_succeeded", "Job already completed successfully, skipping resubmission",
          logging.INFO, (_KEY, _ID), decision="already_succeeded"),
    Event("terminal_resubmit", "Prior job in terminal state, resubmitting fresh",
          logging.WARNING, (_KEY, _ID, _STATUS), decision="terminal_resubmit"),
    Event("no_task_state_store", "task_state_store not available in context, crash "
          "recovery is disabled for this run", logging.WARNING, (),
          decision="no_task_state_store", counted=False),
    Event("persisted", "Persisted external ID to task store", logging.DEBUG, (_KEY, _ID),
          counted=False),
    # ours
    Event("intent_found", "A submission was started but its ID was never stored; looking "
          "for its job by token", logging.WARNING, (_KEY, _TOKEN), decision="look_up"),
    Event("adopted", "Adopting the job found under the stored token", logging.INFO,
          (_KEY, _ID, _TOKEN), decision="adopt"),
    Event("intent_submit", "No job found under the stored token; submitting with that "
          "token", logging.INFO, (_KEY, _TOKEN), decision="intent_submit"),
    Event("vanished", "The system no longer knows the stored job; resubmitting",
          logging.WARNING, (_KEY, _ID), decision="vanished_resubmit"),
    Event("replaced", "The stored ID now names a different job; resubmitting",
          logging.WARNING, (_KEY, _ID), decision="replaced_resubmit"),
    Event("unknown_status", "Job status is neither active, succeeded nor failed; asking "
          "again", logging.WARNING, (_KEY, _ID, _STATUS)),
    Event("not_visible_yet", "The job submitted moments ago is not visible yet; asking "
          "again", logging.INFO, (_KEY, _ID)),
    Event("clear_resubmit", "The task was cleared after its job succeeded; submitting a "
          "new job", logging.INFO, (_KEY, _ID), decision="clear_resubmit"),
    Event("await_other_try", "Another try of this task instance is submitting; waiting "
          "for its job", logging.INFO, decision="await_other_try"),
    Event("claim_lost", "Another try took over the claim to submit", logging.WARNING),
    Event("submitted", "Submitted job", logging.INFO, (_KEY, _ID, _TOKEN), counted=False),
    Event("no_job_id", "submit_job returned None: no job ID to store, so crash recovery "
          "is disabled for this job", logging.WARNING, counted=False),
)}

#: Actions after which the status in hand came from asking about a stored job.
_ASKED = (Action.QUERY, Action.REQUERY)
_RESUBMITS = {StatusKind.FAILED: "terminal_resubmit", StatusKind.NOT_FOUND: "vanished",
              StatusKind.REPLACED: "replaced", None: "clear_resubmit"}


def event_for(previous: Action | None, decision: Decision,
              status: StatusKind | None) -> str | None:
    """The event ``decision`` stands for, or None when it is routine (no event).

    ``previous`` is the action taken just before (None at the start of a try).
    """
    action, asked = decision.action, previous in _ASKED
    if action is Action.SUBMIT:
        return "intent_submit" if previous is Action.LOOK_UP else "fresh_submit"
    if action is Action.RESUBMIT:
        return _RESUBMITS.get(status, "terminal_resubmit")
    simple = {Action.AWAIT: "await_other_try", Action.LOOK_UP: "intent_found",
              Action.QUERY: "reconnect_attempt", Action.REQUERY: "not_visible_yet",
              Action.RECHECK: "unknown_status"}
    if action in simple:
        return simple[action]
    if action is Action.WAIT and asked:
        return "reconnect_success"
    if action is Action.FINISH and asked:
        return "already_succeeded"
    return None

"""The resume decision: a pure function of the stored job record and the job's status.

How it works: :func:`decide` looks at what the task store holds (nothing, an intent
without an ID, or an ID) and, when there is an ID, at the classified status of that job,
and returns the next :class:`Action`. The mixin performs the action, which changes the
record or the status, and asks again, until the job is finished or an error ends the try.

==========================  ===================  =================================
stored record               status               action
==========================  ===================  =================================
nothing                     (not asked)          SUBMIT, generation 0
intent, no ID               not looked up        LOOK_UP the token (``find_job``)
intent, no ID               NOT_FOUND            SUBMIT, same generation and token
ID                          not asked            QUERY the status
ID                          ACTIVE               WAIT (poll until complete)
ID                          UNKNOWN              RECHECK (poll with backoff)
ID                          SUCCEEDED            FINISH (result; hook unless done)
ID                          FAILED               RESUBMIT, generation + 1
ID                          NOT_FOUND            RESUBMIT, generation + 1, warn
ID, finished, then cleared  (not asked)          RESUBMIT, generation + 1 (unless
                                                 ``resubmit_on_clear`` is off)
anything                    CLAIMED              AWAIT the other try's job
ID                          REPLACED             RESUBMIT, generation + 1, warn
ID never seen, just sent    NOT_FOUND            REQUERY after a pause (a lagging read)
==========================  ===================  =================================

A task cleared after its job succeeded and the task finished is run again: a new job.
Cleared after a failure, or while the job ran, it behaves as a retry (the rows above).

What it does not do: any I/O, logging or waiting. Keeping it pure lets a table test
cover every combination.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from resumable._job_record import JobRecord

__all__ = ["Action", "Decision", "StatusKind", "decide"]


class StatusKind(enum.Enum):
    """A job status as the operator's predicates classify it."""

    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"
    #: Not a job status: another live try holds the claim to submit (``_job_claim``).
    CLAIMED = "claimed"
    #: The stored ID now names another job (its identity changed): as good as vanished.
    REPLACED = "replaced"


class Action(enum.Enum):
    """What the mixin does next."""

    SUBMIT = "submit"
    LOOK_UP = "look_up"
    QUERY = "query"
    WAIT = "wait"
    RECHECK = "recheck"
    FINISH = "finish"
    RESUBMIT = "resubmit"
    AWAIT = "await"
    REQUERY = "requery"


@dataclass(frozen=True, slots=True)
class Decision:
    """The next action, the generation it uses, and why."""

    action: Action
    generation: int
    reason: str
    warn: bool = False
    run_hook: bool = True


def decide(record: JobRecord | None, status: StatusKind | None, *,
           cleared: bool = False, lagging: bool = False) -> Decision:
    """The next action for a stored ``record`` and the job's classified ``status``.

    ``status`` is ``None`` when it has not been asked yet. For an intent without an ID,
    ``NOT_FOUND`` means ``find_job`` found nothing under the intent's token. ``cleared``:
    the task was cleared since the record's job finished, and a new job is wanted.
    ``lagging``: the stored job was submitted moments ago and never seen, so the system
    not knowing it yet may be its reads lagging its writes.
    """
    if status is StatusKind.CLAIMED:
        return Decision(Action.AWAIT, record.generation if record is not None else 0,
                        "another try of this task instance is submitting: waiting for "
                        "its job")
    if record is None:
        return Decision(Action.SUBMIT, 0, "no job stored: submitting")
    generation = record.generation
    if not record.has_id:
        if status is None:
            return Decision(Action.LOOK_UP, generation,
                            "a submission was started but its ID was never stored: "
                            "looking for it by token")
        return Decision(Action.SUBMIT, generation,
                        "no job found under the stored token: submitting with that token")
    if cleared and record.finished and status is None:
        return Decision(Action.RESUBMIT, generation + 1,
                        "the task was cleared after its job succeeded: submitting a new job")
    if status is StatusKind.NOT_FOUND and lagging:
        return Decision(Action.REQUERY, generation,
                        "the job submitted moments ago is not visible yet: asking again")
    if status is None:
        return Decision(Action.QUERY, generation,
                        "a job ID is stored from an earlier try: asking its status")
    table = {
        StatusKind.ACTIVE: Decision(Action.WAIT, generation,
                                    "job is running: polling until it ends"),
        StatusKind.UNKNOWN: Decision(Action.RECHECK, generation,
                                     "job status is unknown: asking again"),
        StatusKind.SUCCEEDED: Decision(Action.FINISH, generation,
                                       "job succeeded",
                                       run_hook=not record.finished),
        StatusKind.FAILED: Decision(Action.RESUBMIT, generation + 1,
                                    "job failed: submitting a new generation"),
        StatusKind.NOT_FOUND: Decision(Action.RESUBMIT, generation + 1,
                                       "the system no longer knows the stored job: "
                                       "submitting a new generation", warn=True),
        StatusKind.REPLACED: Decision(Action.RESUBMIT, generation + 1,
                                      "the stored ID now names a different job (its "
                                      "identity changed): submitting a new generation",
                                      warn=True),
    }
    return table[status]

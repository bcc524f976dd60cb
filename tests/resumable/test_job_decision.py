"""The resume decision, as a table: every (stored record, status) combination."""

from __future__ import annotations

import pytest

from resumable._job_decision import Action, StatusKind, decide
from resumable._job_record import JobRecord

NOTHING = None
INTENT = JobRecord(external_id=None, generation=2, token="rsm-x-g2", phase="submitting")
SUBMITTED = JobRecord(external_id="j-1", generation=2, token="rsm-x-g2", phase="submitted")
FAILED_BEFORE = JobRecord(external_id="j-1", generation=2, phase="failed")
FINISHED = JobRecord(external_id="j-1", generation=2, phase="finished")
ZERO_ID = JobRecord(external_id=0, generation=0, phase="submitted")
AIRFLOW_BARE_ID = JobRecord.load("app-7", None)

# (record, status) -> (action, generation, warn, run_hook)
TABLE = [
    (NOTHING, None, Action.SUBMIT, 0, False, True),
    (INTENT, None, Action.LOOK_UP, 2, False, True),
    (INTENT, StatusKind.NOT_FOUND, Action.SUBMIT, 2, False, True),
    (SUBMITTED, None, Action.QUERY, 2, False, True),
    (SUBMITTED, StatusKind.ACTIVE, Action.WAIT, 2, False, True),
    (SUBMITTED, StatusKind.UNKNOWN, Action.RECHECK, 2, False, True),
    (SUBMITTED, StatusKind.SUCCEEDED, Action.FINISH, 2, False, True),
    (SUBMITTED, StatusKind.FAILED, Action.RESUBMIT, 3, False, True),
    (SUBMITTED, StatusKind.NOT_FOUND, Action.RESUBMIT, 3, True, True),
    (FAILED_BEFORE, None, Action.QUERY, 2, False, True),
    (FAILED_BEFORE, StatusKind.FAILED, Action.RESUBMIT, 3, False, True),
    (FINISHED, StatusKind.SUCCEEDED, Action.FINISH, 2, False, False),
    (FINISHED, StatusKind.NOT_FOUND, Action.RESUBMIT, 3, True, True),
    (ZERO_ID, None, Action.QUERY, 0, False, True),
    (ZERO_ID, StatusKind.ACTIVE, Action.WAIT, 0, False, True),
    (AIRFLOW_BARE_ID, None, Action.QUERY, 0, False, True),
    (AIRFLOW_BARE_ID, StatusKind.SUCCEEDED, Action.FINISH, 0, False, True),
    (NOTHING, StatusKind.CLAIMED, Action.AWAIT, 0, False, True),
    (INTENT, StatusKind.CLAIMED, Action.AWAIT, 2, False, True),
    (SUBMITTED, StatusKind.CLAIMED, Action.AWAIT, 2, False, True),
    (SUBMITTED, StatusKind.REPLACED, Action.RESUBMIT, 3, True, True),
    (FINISHED, StatusKind.REPLACED, Action.RESUBMIT, 3, True, True),
]

# Rows that depend on the situation, not only on the record and the status:
# (record, status, cleared, lagging) -> action, generation
SITUATIONS = [
    (FINISHED, None, True, False, Action.RESUBMIT, 3),       # cleared after success
    (FINISHED, None, False, False, Action.QUERY, 2),
    (SUBMITTED, None, True, False, Action.QUERY, 2),         # cleared while running
    (FAILED_BEFORE, None, True, False, Action.QUERY, 2),     # cleared after a failure
    (SUBMITTED, StatusKind.NOT_FOUND, False, True, Action.REQUERY, 2),  # lagging reads
    (SUBMITTED, StatusKind.NOT_FOUND, False, False, Action.RESUBMIT, 3),
    (INTENT, StatusKind.NOT_FOUND, False, True, Action.SUBMIT, 2),
]


@pytest.mark.parametrize(("record", "status", "cleared", "lagging", "action", "generation"),
                         SITUATIONS)
def test_decision_table_situations(record: JobRecord, status: StatusKind | None,
                                   cleared: bool, lagging: bool, action: Action,
                                   generation: int) -> None:
    decision = decide(record, status, cleared=cleared, lagging=lagging)
    assert (decision.action, decision.generation) == (action, generation)
    assert decision.reason


@pytest.mark.parametrize(("record", "status", "action", "generation", "warn", "hook"), TABLE,
                         ids=[f"{r.phase if r else 'nothing'}-{s.value if s else 'unasked'}"
                              for r, s, *_ in TABLE])
def test_decision_table(record: JobRecord | None, status: StatusKind | None, action: Action,
                        generation: int, warn: bool, hook: bool) -> None:
    decision = decide(record, status)
    assert (decision.action, decision.generation, decision.warn, decision.run_hook) == (
        action, generation, warn, hook)
    assert decision.reason


def test_every_status_of_a_stored_id_is_decided() -> None:
    for status in StatusKind:
        assert decide(SUBMITTED, status).action is not Action.QUERY


def test_unknown_never_resubmits() -> None:
    assert decide(SUBMITTED, StatusKind.UNKNOWN).action is Action.RECHECK


def test_record_round_trip_and_airflow_bare_id() -> None:
    stored = SUBMITTED.evolve(status="RUNNING", submitted_at="2026-01-01T00:00:00+00:00")
    again = JobRecord.load("j-1", stored.to_json())
    assert again == stored
    assert JobRecord(external_id="app-7", phase="submitted") == AIRFLOW_BARE_ID
    assert JobRecord.load(None, None) is None
    assert JobRecord.load(0, None) == ZERO_ID
    assert JobRecord.load(None, {"phase": "bogus", "generation": -4}) == JobRecord(
        phase="submitted", generation=0)

"""The mixin's knobs are checked before anything happens: a table of good and bad values
for the pure check, then the mixin raising at construction (keywords) or when execute
starts (class attributes), before the store or submit_job is touched."""

from __future__ import annotations

import math
from typing import Any

import pytest

from resumable import (
    JobConfigurationError,
    JobConfigurationTypeError,
    ResumableError,
    ResumableJobMixin,
)
from resumable._job_knobs import KNOBS, check_knobs, knob_problem, knob_values
from tests.resumable.fake_jobs import FakeJobs, FakeOperator

NAN, INF = float("nan"), float("inf")

GOOD: list[tuple[str, Any]] = [
    ("poll_interval", 0), ("poll_interval", 0.0), ("poll_interval", 5), ("poll_interval", 0.001),
    ("poll_interval", 86400), ("poll_max_interval", 0), ("poll_max_interval", 60.0),
    ("poll_timeout", None), ("poll_timeout", 0.05), ("poll_timeout", 3600),
    ("poll_timeout", 10**9), ("max_resubmits", 0), ("max_resubmits", 3),
    ("max_lookup_errors", 1), ("max_lookup_errors", 10**6), ("max_unknown_statuses", 1),
    ("max_unknown_statuses", 30), ("durable", True), ("durable", False),
    ("cancel_on_kill", False),
    ("deferrable", True), ("deferrable", False),
    ("resubmit_on_clear", True), ("claim_timeout", 0.5), ("not_found_grace", 0),
    ("external_id_key", "run_id"), ("external_id_key", "k" * 236),
]

BAD_VALUE: list[tuple[str, Any]] = [
    ("poll_interval", -1), ("poll_interval", -0.001), ("poll_interval", NAN),
    ("poll_interval", INF), ("poll_interval", -INF), ("poll_interval", 86400.5),
    ("poll_interval", 10**400), ("poll_max_interval", -5), ("poll_max_interval", NAN),
    ("poll_max_interval", INF), ("poll_timeout", 0), ("poll_timeout", 0.0),
    ("poll_timeout", -1), ("poll_timeout", NAN), ("poll_timeout", INF),
    ("max_resubmits", -1), ("max_lookup_errors", 0), ("max_lookup_errors", -3),
    ("max_unknown_statuses", 0), ("external_id_key", ""), ("external_id_key", "k" * 251),
    ("external_id_key", "k" * 237),  # "resumable.job/" + it is over 250 characters
]

BAD_TYPE: list[tuple[str, Any]] = [
    ("poll_interval", True), ("poll_interval", "5"), ("poll_interval", None),
    ("poll_interval", [1]), ("poll_max_interval", False), ("poll_timeout", "60"),
    ("poll_timeout", True), ("max_resubmits", True), ("max_resubmits", 1.0),
    ("max_resubmits", "3"), ("max_resubmits", None), ("max_lookup_errors", False),
    ("max_lookup_errors", 2.5), ("max_unknown_statuses", True), ("durable", 1),
    ("durable", "yes"), ("durable", None), ("cancel_on_kill", 0),
    ("deferrable", 1), ("deferrable", "yes"),
    ("resubmit_on_clear", "yes"), ("claim_timeout", "5"), ("not_found_grace", None),
    ("cancel_on_kill", "no"),
    ("external_id_key", 5), ("external_id_key", None), ("external_id_key", b"run_id"),
]


def _id(case: Any) -> str:
    return repr(case)[:40]


@pytest.mark.parametrize(("name", "value"), GOOD, ids=_id)
def test_good_values(name: str, value: Any) -> None:
    assert knob_problem(name, value) is None


@pytest.mark.parametrize(("name", "value"), BAD_VALUE, ids=_id)
def test_bad_values_name_the_knob_and_the_value(name: str, value: Any) -> None:
    problem = knob_problem(name, value)
    assert type(problem) is JobConfigurationError
    assert isinstance(problem, ValueError) and isinstance(problem, ResumableError)
    assert (problem.knob, problem.value is value) == (name, True)
    assert name in str(problem) and repr(value)[:40] in str(problem)


@pytest.mark.parametrize(("name", "value"), BAD_TYPE, ids=_id)
def test_bad_types_are_type_errors(name: str, value: Any) -> None:
    problem = knob_problem(name, value)
    assert isinstance(problem, JobConfigurationTypeError)
    assert isinstance(problem, TypeError) and isinstance(problem, JobConfigurationError)
    assert name in str(problem) and type(value).__name__ in str(problem)


def test_every_knob_is_covered_and_unknown_names_are_refused() -> None:
    names = {knob.name for knob in KNOBS}
    assert names == {name for name, _ in GOOD} == {name for name, _ in BAD_TYPE}
    with pytest.raises(KeyError):
        knob_problem("poll_intervall", 1)
    with pytest.raises(KeyError, match="poll_intervall"):
        check_knobs({"poll_intervall": 1})


def test_check_knobs_raises_the_first_problem_and_passes_the_defaults() -> None:
    check_knobs(knob_values(ResumableJobMixin))
    check_knobs(knob_values(FakeOperator))
    with pytest.raises(JobConfigurationError, match="poll_interval"):
        check_knobs({"durable": "x", "poll_interval": -1})  # KNOBS order


@pytest.mark.parametrize(("keyword", "value"), [
    ("poll_interval", -1), ("poll_interval", NAN), ("poll_timeout", INF), ("poll_timeout", -5),
    ("durable", "false"), ("cancel_on_kill", 1)])
def test_a_bad_keyword_fails_at_construction(keyword: str, value: Any) -> None:
    with pytest.raises(JobConfigurationError, match=keyword):
        FakeOperator(FakeJobs(), **{keyword: value})


class Untouchable:
    """A task store that fails the test if anything reads or writes it."""

    def get(self, key: str, default: Any = None) -> Any:
        raise AssertionError(f"store read: {key}")

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        raise AssertionError(f"store written: {key}")

    def delete(self, key: str) -> None:
        raise AssertionError(f"store written: {key}")


@pytest.mark.parametrize(("attribute", "value"), [
    ("poll_interval", -1.0), ("poll_max_interval", INF), ("poll_timeout", NAN),
    ("poll_timeout", 0), ("max_resubmits", True), ("max_lookup_errors", 0),
    ("max_unknown_statuses", 0), ("durable", "yes"), ("cancel_on_kill", None),
    ("external_id_key", ""), ("external_id_key", "x" * 300), ("external_id_key", 42)])
@pytest.mark.parametrize("durable", [True, False])
def test_a_bad_class_attribute_fails_before_the_store_or_submit(
        attribute: str, value: Any, durable: bool) -> None:
    if attribute == "durable":
        durable = value
    bad = type("Bad", (FakeOperator,), {attribute: value, "durable": durable})
    jobs = FakeJobs()
    with pytest.raises(JobConfigurationError, match=attribute) as info:
        bad(jobs).execute({"task_store": Untouchable()})
    assert info.value.knob == attribute
    assert jobs.submissions == [] and jobs.status_calls == 0


def test_an_attribute_set_after_init_is_checked_at_execute() -> None:
    op = FakeOperator(FakeJobs())
    op.poll_interval = math.nan  # as the examples' own __init__ methods do
    with pytest.raises(JobConfigurationError, match="poll_interval must be a finite number"):
        op.execute({"task_store": Untouchable()})
    assert op.jobs.submissions == []

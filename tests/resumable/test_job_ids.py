"""Job IDs the store cannot hold: tuples are normalised to lists (and reattached to on the
retry); anything else is refused with a clear error *before* it is written, leaving the
intent so that the retry finds the job by its token instead of submitting a second one."""

from __future__ import annotations

from typing import Any

import pytest

from resumable import JobIdError, JobTimeoutError, idempotency_token_for
from resumable._job_ids import normalise_job_id, storable_job_id
from resumable._job_record import meta_key
from store_client import TaskStore, connect
from tests.resumable.fake_jobs import KEY, SCOPE, AccessorLike, FakeJobs, FakeOperator, ctx

TOKEN0 = idempotency_token_for(SCOPE, KEY, 0)


# -- the pure part ----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (("c-1", 7), ["c-1", 7]),
    ((), []),
    ([("a", 1), ("b", (2, 3))], [["a", 1], ["b", [2, 3]]]),
    ({"cluster": "c", "steps": ("s1", ("s2",))}, {"cluster": "c", "steps": ["s1", ["s2"]]}),
    ((("nested",),), [["nested"]]),
])
def test_tuples_become_lists_recursively(value: Any, expected: Any) -> None:
    assert normalise_job_id(value) == expected
    assert storable_job_id(value, key=KEY, hook="submit_job", token="t") == expected


@pytest.mark.parametrize("value", [
    "run-1", 0, "", 17, 2.5, True, ["a", 1], {"a": [1, {"b": 2}]}, {1, 2}, b"raw", object()])
def test_values_without_tuples_are_kept_as_the_very_object(value: Any) -> None:
    assert normalise_job_id(value) is value


@pytest.mark.parametrize(("value", "type_name"), [
    (object(), "object"), ({1, 2}, "set"), (b"raw", "bytes"), (float("nan"), "float"),
    (float("inf"), "float"), ({"a": object()}, "dict"), ({1: "non-str key"}, "dict"),
    (("ok", object()), "tuple"), (None, "NoneType")])
def test_unstorable_ids_are_refused_naming_hook_type_and_token(value: Any,
                                                               type_name: str) -> None:
    with pytest.raises(JobIdError) as info:
        storable_job_id(value, key=KEY, hook="submit_job", token="rsm-x-g0")
    message = str(info.value)
    assert message.startswith(f"submit_job returned {type_name} ")
    assert "may exist" in message and "rsm-x-g0" in message
    assert info.value.hook == "submit_job" and isinstance(info.value, TypeError)


def test_a_self_containing_id_is_refused_not_a_recursion_error() -> None:
    loop: list[Any] = []
    loop.append((loop,))
    with pytest.raises(JobIdError, match="submit_job returned list"):
        storable_job_id(loop, key=KEY, hook="submit_job", token="t")


# -- operators that return such IDs -----------------------------------------------------

class PairIds(FakeOperator):
    """Two-part IDs as tuples (cluster, job), the way EMR-like systems name steps."""

    seen: list[Any]

    def submit_job(self, context: Any) -> Any:
        return ("cluster-1", super().submit_job(context))

    def get_job_status(self, external_id: Any, context: Any) -> str:
        self.seen = [*getattr(self, "seen", []), external_id]
        return self.jobs.status(external_id[1])

    def find_job(self, token: str, context: Any) -> Any:
        found = super().find_job(token, context)
        return None if found is None else ("cluster-1", found)


def test_a_tuple_id_is_stored_as_a_list_and_the_retry_reattaches(store: TaskStore) -> None:
    jobs = FakeJobs(script=["RUNNING"])
    first = PairIds(jobs, poll_timeout=0.05)
    with pytest.raises(JobTimeoutError):
        first.execute(ctx(store))
    assert store.get(KEY) == ["cluster-1", 100]
    assert first.seen and all(seen == ["cluster-1", 100] for seen in first.seen)  # one form
    jobs.scripts[100] = ["RUNNING", "SUCCESS"]
    second = PairIds(jobs)
    assert second.execute(ctx(store)) == {"job": ["cluster-1", 100]}
    assert len(jobs.submissions) == 1
    assert second.finished == [(["cluster-1", 100], {"job": ["cluster-1", 100]})]


def test_a_tuple_id_found_by_token_is_adopted_as_a_list(store: TaskStore) -> None:
    jobs = FakeJobs()
    jobs.submit(TOKEN0)  # a job submitted by a try that died before storing its ID
    store.set(meta_key(KEY), {"generation": 0, "token": TOKEN0, "phase": "submitting"})
    assert PairIds(jobs, use_find=True).execute(ctx(store)) == {"job": ["cluster-1", 100]}
    assert store.get(KEY) == ["cluster-1", 100] and len(jobs.submissions) == 1


class OddIds(FakeOperator):
    """``submit_job`` submits a real job, then returns ``odd(job_id)`` as its ID."""

    def __init__(self, jobs: FakeJobs, odd: Any, **kwargs: Any) -> None:
        super().__init__(jobs, **kwargs)
        self.odd = odd

    def submit_job(self, context: Any) -> Any:
        return self.odd(super().submit_job(context))


ODD = [lambda job: object(), lambda job: {job},
       lambda job: {"job": job, "handle": object()}]


def _refused_first_try(store: Any, jobs: FakeJobs, odd: Any) -> JobIdError:
    with pytest.raises(JobIdError) as info:
        OddIds(jobs, odd).execute(ctx(store))
    assert info.value.hook == "submit_job"
    assert "submit_job returned" in str(info.value) and "may exist" in str(info.value)
    assert TOKEN0 in str(info.value)
    assert store.get(KEY) is None  # nothing half-written
    meta = store.get(meta_key(KEY))
    assert (meta["phase"], meta["token"]) == ("submitting", TOKEN0)  # the intent stays
    return info.value


@pytest.mark.parametrize("odd", ODD)
def test_an_unstorable_id_leaves_the_intent_and_find_job_adopts_the_job(
        store: TaskStore, odd: Any) -> None:
    jobs = FakeJobs()
    _refused_first_try(store, jobs, odd)
    assert FakeOperator(jobs, use_find=True).execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1
    assert store.get(KEY) == 100


@pytest.mark.parametrize("odd", ODD)
def test_an_unstorable_id_then_a_deduping_system_returns_the_same_job(
        store: TaskStore, odd: Any) -> None:
    jobs = FakeJobs(dedupe_tokens=True)
    _refused_first_try(store, jobs, odd)
    retry = FakeOperator(jobs)  # no find_job: resubmits, with the same token
    assert retry.execute(ctx(store)) == {"job": 100}
    assert retry.idempotency_token == TOKEN0
    assert [job for job, _ in jobs.submissions] == [100]


def test_an_id_too_large_for_the_store_is_refused_before_it_is_written(tmp_path: Any) -> None:
    store = connect(f"sqlite:///{tmp_path / 'small.db'}",
                    max_value_bytes=512).task_store(SCOPE)
    jobs = FakeJobs()
    error = _refused_first_try(store, jobs, lambda job: f"job-{job}-" + "x" * 600)
    assert "512" in str(error) and "str" in str(error)
    assert FakeOperator(jobs, use_find=True).execute(ctx(store)) == {"job": 100}
    assert len(jobs.submissions) == 1
    dedupe = FakeJobs(dedupe_tokens=True)
    other = connect(f"sqlite:///{tmp_path / 'small2.db'}", max_value_bytes=512)
    store2 = other.task_store(SCOPE)
    _refused_first_try(store2, dedupe, lambda job: "y" * 600)
    assert FakeOperator(dedupe).execute(ctx(store2)) == {"job": 100}
    assert len(dedupe.submissions) == 1


def test_airflow_accessor_refuses_it_too() -> None:
    accessor = AccessorLike()
    jobs = FakeJobs()
    with pytest.raises(JobIdError, match="submit_job returned object"):
        OddIds(jobs, lambda job: object()).execute({"task_state_store": accessor})
    assert "fake_job_id" not in accessor.data
    assert accessor.data[meta_key(KEY)]["phase"] == "submitting"
    assert FakeOperator(jobs, use_find=True).execute({"task_state_store": accessor}) == {
        "job": 100}
    assert len(jobs.submissions) == 1


def test_an_unstorable_id_from_find_job_names_find_job(store: TaskStore) -> None:
    class OddFinder(FakeOperator):
        def find_job(self, token: str, context: Any) -> Any:
            return object()

    jobs = FakeJobs()
    store.set(meta_key(KEY), {"generation": 0, "token": TOKEN0, "phase": "submitting"})
    with pytest.raises(JobIdError, match="find_job returned object"):
        OddFinder(jobs).execute(ctx(store))
    assert store.get(KEY) is None and jobs.submissions == []

"""Every code snippet of ``README.md`` runs, so the docs cannot rot.

How it works: the fenced blocks are read from the README in order, each named by the
heading it sits under and its rank there (``"The store client [python 1]"``). Each
``python`` block must be declared in :data:`PYTHON` with the fakes it needs (the
outside services it names: a job API, a target database, a page source...; never a
name of ``resumable`` or ``store_client``). The test first checks that the names the
snippet uses but does not bind or import are exactly those fakes (so every snippet
shows its imports), then runs it with ``exec`` in a fresh module pre-filled with only
those fakes, in a temporary working directory with ``RESUMABLE_STORE_URL`` on a
temporary SQLite file and the process-wide default client reset, and finally checks
the outcome the README implies. Top-level expression statements are evaluated one by
one and their values kept, so a snippet's ``# 'j-1'`` comment can be checked too.
Snippets that import ``airflow.sdk`` run with Airflow imported (a throwaway
``AIRFLOW_HOME``); DAGs are defined, not run. The ``sh`` block of store commands runs
line by line through the installed ``resumable`` command on a temporary store.

A new block (or a new language tag) that no table here knows fails
:func:`test_every_readme_block_is_declared`, naming its heading.

What it does not do: run the install and test-suite commands at the top (minutes, and
a network), or a DAG in Airflow (``tests/airflow`` does that for ``examples/dags``).
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import inspect
import os
import re
import shlex
import subprocess
import symtable
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from store_client import NEVER_EXPIRE, AssetScope, TaskScope, _airflow_context, default_client
from tests.support import import_airflow_sdk
from tests.support.readme_fakes import (
    JobApi,
    MyTrigger,
    OrdersApi,
    PagedSource,
    Recorder,
    TargetDb,
    orders_table,
    serve_job_api,
)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESUMABLE = Path(sys.executable).with_name("resumable")


# -- reading the README ----------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, the heading above it, its rank there."""

    lang: str
    heading: str
    rank: int
    line: int  # the README line of its first code line
    source: str

    @property
    def id(self) -> str:
        return f"{self.heading} [{self.lang} {self.rank}]"


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of ``text`` in order (untagged ones, program output, included)."""
    blocks: list[Block] = []
    heading, fence, ranks = "(top)", None, {}
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if fence is None:
            if line.startswith("#"):
                heading = line.lstrip("#").strip()
            elif line.startswith("```"):
                fence = (line[3:].strip(), number + 1, [])
        elif line.rstrip() == "```":
            lang, first, body = fence
            rank = ranks[(heading, lang)] = ranks.get((heading, lang), 0) + 1
            blocks.append(Block(lang, heading, rank, first, "\n".join(body) + "\n"))
            fence = None
        else:
            fence[2].append(line)
    assert fence is None, f"README.md: the block opened at line {fence[1] - 1} is never closed"
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def _blocks(lang: str) -> list[Block]:
    return [block for block in BLOCKS if block.lang == lang]


def undefined_names(source: str) -> set[str]:
    """Names ``source`` reads that it never binds (assigns, imports, defines), nor builtins."""
    table = symtable.symtable(source, "<snippet>", "exec")
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    used: set[str] = set()

    def walk(t: symtable.SymbolTable) -> None:
        for symbol in t.get_symbols():
            if symbol.is_referenced() and (t is table or symbol.is_global()):
                used.add(symbol.get_name())
        for child in t.get_children():
            walk(child)

    walk(table)
    return used - bound - set(dir(builtins))


# -- running a snippet -----------------------------------------------------------------

@dataclass
class Ran:
    """A snippet after it ran: its namespace and the values of its top-level expressions."""

    ns: dict[str, Any]
    values: list[tuple[str, Any]]

    def value(self, expression: str) -> Any:
        found = [value for text, value in self.values if text == expression]
        assert len(found) == 1, f"expected one top-level `{expression}` in the snippet"
        return found[0]


def module_for(block: Block) -> ModuleType:
    """A fresh, empty module for ``block`` (its classes get an importable module path)."""
    return ModuleType("readme_" + re.sub(r"\W+", "_", block.id.lower()).strip("_"))


def run_block(block: Block, module: ModuleType) -> Ran:
    """Run ``block`` in ``module``, top-level expressions evaluated and their values kept.

    The code is compiled against README.md's own line numbers, so a traceback shows the
    README line that failed.
    """
    source = "\n" * (block.line - 1) + block.source
    values: list[tuple[str, Any]] = []
    for statement in ast.parse(source, str(README)).body:
        if isinstance(statement, ast.Expr):
            code = compile(ast.Expression(statement.value), str(README), "eval")
            text = ast.get_source_segment(source, statement.value) or ""
            values.append((text, eval(code, module.__dict__)))
        else:
            exec(compile(ast.Module([statement], []), str(README), "exec"), module.__dict__)
    return Ran(module.__dict__, values)


def needs_airflow(block: Block) -> bool:
    return re.search(r"^\s*(from|import) airflow\b", block.source, re.MULTILINE) is not None


@pytest.fixture
def snippet_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A temporary working directory and SQLite store (``RESUMABLE_STORE_URL``), no other
    ``RESUMABLE_*`` settings, and no process-wide default client: yields the store URL."""
    for name in list(os.environ):
        if name.startswith("RESUMABLE_") and name != "RESUMABLE_STRICT":
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("RESUMABLE_STORE_URL", url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_airflow_context, "_client", None)
    try:
        yield url
    finally:
        client = _airflow_context._client
        if client is not None:
            client.close()


# -- what each python snippet needs, and what it must do --------------------------------

@dataclass(frozen=True)
class Snippet:
    """The fakes a snippet gets (made afresh for each run) and the check of its outcome."""

    fakes: Callable[[ExitStack], dict[str, Any]]  # the stack closes what they open
    check: Callable[[Ran], None]


def _ctx(scope: TaskScope) -> dict[str, Any]:
    """A task context outside Airflow: the task store on the configured store (the
    process-wide default client, which the snippets use too)."""
    return {"task_store": default_client().task_store(scope)}


def check_mixin(ran: Ran) -> None:
    """The operator submits once, a retry reattaches, a forgotten ID is resubmitted."""
    api, operator = ran.ns["api"], ran.ns["SubmitRunOperator"]
    context = _ctx(TaskScope("etl", "2026-11-22", "submit"))
    assert operator(task_id="submit", poll_interval=0.01).execute(context) is None
    assert [(s["args"], s["run_id"]) for s in api.submissions] == [((...,), "run-1")]
    token = api.submissions[0]["idempotency_token"]
    assert context["task_store"].get("run_id") == "run-1"
    operator(task_id="submit", poll_interval=0.01).execute(context)  # a retry
    assert len(api.submissions) == 1, "the retry submitted a second job"
    # an ID the system no longer knows (JobNotFoundError): a new job, under a new token
    context = _ctx(TaskScope("etl", "2026-11-23", "submit"))
    context["task_store"].set("run_id", "run-0", retention=NEVER_EXPIRE)
    operator(task_id="submit", poll_interval=0.01).execute(context)
    assert [s["run_id"] for s in api.submissions] == ["run-1", "run-2"]
    assert api.submissions[1]["idempotency_token"] not in (None, token)
    assert context["task_store"].get("run_id") == "run-2"


def check_checkpoint(ran: Ran) -> None:
    """5,000 pages once each; a crash at page 13 resumes there; tokens resume too."""
    source, load = ran.ns["fetch"], ran.ns["load"]
    ingest, ingest_tokens = ran.ns["ingest"], ran.ns["ingest_tokens"]
    first, retried = TaskScope("dag", "run", "ingest"), TaskScope("dag", "run-2", "ingest")
    assert [page.number for page in load.calls] == list(range(1, 5001))
    assert default_client().task_store(first).items() == {}  # cleared on success
    load.calls.clear()
    source.fail_at = 13
    with pytest.raises(ConnectionError):
        ingest(30, task_store=retried)
    assert default_client().task_store(retried).items() == {"ingest": 12}
    ingest(30, task_store=retried)  # the retry starts after page 12
    assert [page.number for page in load.calls] == list(range(1, 31))
    load.calls.clear()
    source.pages, source.fail_at = 7, 4
    scope = TaskScope("dag", "run", "ingest_tokens")
    with pytest.raises(ConnectionError):
        ingest_tokens(task_store=scope)
    assert default_client().task_store(scope).items() == {"ingest_tokens": "p4"}
    ingest_tokens(task_store=scope)  # resumes at the committed token
    assert load.calls == [[n] for n in range(1, 8)]


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, 1, hour, minute, tzinfo=timezone.utc)


def check_watermark(ran: Ran) -> None:
    """The load returns the API's rows in the window, then only the new ones; from SQL,
    the boundary row the closed start re-reads is dropped."""
    api, db = ran.ns["api"], ran.ns["db"]
    load_orders = ran.ns["load_orders"].function  # under Airflow's @task, the plain call
    assert load_orders() == 3
    assert api.calls == [{"since": "2026-01-01T00:00:00+00:00"}]
    assert [row["id"] for row in db.batches[0]] == [1, 2, 3]
    api.rows.append({"id": 4, "updated_at": _at(4), "total": 40})
    assert load_orders() == 1  # row 3, at the stored cursor, re-read (lag) and dropped
    assert api.calls[1] == {"since": "2026-01-01T02:55:00+00:00"}
    assert [row["id"] for row in db.batches[1]] == [4]
    assert default_client().asset_store(AssetScope(name="orders")).get("watermark") is not None

    conn, orders = ran.ns["conn"], ran.ns["orders"]
    conn.execute(orders.insert(), [{"id": 10, "updated_at": _at(5)},
                                   {"id": 11, "updated_at": _at(6)}])
    load_from_sql = ran.ns["load_orders_from_sql"]
    assert load_from_sql() == 2  # the shared cursor is at 04:00: both rows are past it
    conn.execute(orders.insert(), [{"id": 12, "updated_at": _at(6)}])
    assert load_from_sql() == 1  # row 11 at the cursor re-read by the closed start, dropped
    assert [row.id for row in db.batches[-1]] == [12]


def check_airflow_dag(ran: Ran) -> None:
    """The DAG has the three tasks in order; the operator runs outside Airflow too."""
    dag = ran.ns["pipeline"]()
    assert {t.task_id for t in dag.tasks} == {"submit", "ingest", "load_orders"}
    assert dag.get_task("submit").downstream_task_ids == {"ingest"}
    assert dag.get_task("ingest").downstream_task_ids == {"load_orders"}
    assert ran.ns["ORDERS"] in dag.get_task("load_orders").outlets
    ingest = dag.get_task("ingest")
    assert inspect.signature(ingest.python_callable).parameters == {}  # no `cp`
    assert dag.get_task("submit").retries == 3
    api = ran.ns["api"]
    context = _ctx(TaskScope("pipeline", "run", "submit"))
    ran.ns["SubmitRunOperator"](task_id="submit", poll_interval=0.01).execute(context)
    assert [s["run_id"] for s in api.submissions] == ["run-1"]
    assert api.submissions[0]["token"]
    assert context["task_store"].get("run_id") == "run-1"


def check_deferrable(ran: Ran) -> None:
    """Deferred to a trigger rebuilt from its serialized kwargs, which polls the job over
    HTTP (``aget_job_status``) to success; ``execute_complete`` ends the task; one job."""
    from airflow.sdk.exceptions import TaskDeferred

    from resumable._trigger import ResumableJobTrigger

    api, operator = ran.ns["api"], ran.ns["SubmitRunOperator"]
    context = _ctx(TaskScope("etl", "run", "submit"))
    with serve_job_api(api) as url:
        op = operator(task_id="submit", host=url, deferrable=True, poll_timeout=60,
                      poll_interval=0.01)
        assert op.trigger_state()["host"] == url
        with pytest.raises(TaskDeferred) as deferred:
            op.execute(context)
        assert [s["run_id"] for s in api.submissions] == ["run-1"]
        assert context["task_store"].get("run_id") == "run-1"
        _, kwargs = deferred.value.trigger.serialize()
        trigger = ResumableJobTrigger(**kwargs)  # as a restarted triggerer does

        async def first_event() -> Any:
            async for event in trigger.run():
                return event
            return None

        event = asyncio.run(asyncio.wait_for(first_event(), 10))
    assert event.payload["outcome"] == "succeeded", event.payload
    resumed = operator(task_id="submit", host=url, deferrable=True)
    assert resumed.execute_complete(context, event.payload) is None
    assert len(api.submissions) == 1


def check_hand_written(ran: Ran) -> None:
    """SUBMIT defers on the new job, a retry RECONNECTs to it, then ALREADY_SUCCEEDED."""
    from airflow.sdk.exceptions import TaskDeferred

    api, operator = ran.ns["api"], ran.ns["SubmitRunOperator"]
    context = _ctx(TaskScope("etl", "run", "submit"))
    for _ in range(2):  # the first try submits; its retry reattaches to the same run
        with pytest.raises(TaskDeferred) as deferred:
            operator(task_id="submit").execute(context)
        assert deferred.value.trigger == MyTrigger("run-1")
        assert deferred.value.method_name == "execute_complete"
    assert len(api.submissions) == 1
    api.pin("run-1", "SUCCESS")
    assert operator(task_id="submit").execute(context) is None  # get_job_result's default
    assert len(api.submissions) == 1


def check_store_client(ran: Ran) -> None:
    """The values the comments promise."""
    assert ran.value('ts.get("job_id")') == "j-1"
    assert ran.value("ts.items()") == {"job_id": "j-1", "page": 41, "note": {"a": [1, None]}}
    assert ran.value('orders.compare_and_set("cursor", None, "2026-01-01")') is True
    assert ran.value('orders.compare_and_set("cursor", "2025-12-31", "2026-02-01")') is False
    assert ran.value('ts.compare_and_set("claim", None, {"try": 2}, retention=NEVER_EXPIRE)')
    assert ran.ns["ts"].items() == {"claim": {"try": 2}}  # cleared, then claimed
    assert ran.ns["orders"].get("cursor") == "2026-01-01"
    assert ran.value('orders.update("runs", lambda n: 1 if n is None else n + 1)') == 1
    report = ran.ns["report"]
    assert (report.count, report.rows, report.dry_run) == (0, (), True)


def check_plain_job(ran: Ran) -> None:
    """The counters the comment promises, and one submission for two runs."""
    assert ran.value("counted") == ["resumable_job.fresh_submit",
                                    "resumable_job.reconnect_attempt",
                                    "resumable_job.already_succeeded"]
    assert len(ran.ns["api"].submissions) == 1


def _job_api(stack: ExitStack) -> dict[str, Any]:
    return {"api": JobApi()}


def _pages(stack: ExitStack) -> dict[str, Any]:
    return {"fetch": PagedSource(5000), "load": Recorder()}


def _orders(stack: ExitStack) -> dict[str, Any]:
    rows = [{"id": n, "updated_at": _at(n), "total": 10 * n} for n in (1, 2, 3)]
    rows.append({"id": 0, "updated_at": datetime(2025, 12, 31, tzinfo=timezone.utc)})
    conn, orders = stack.enter_context(orders_table())
    return {"api": OrdersApi(rows), "db": TargetDb(), "conn": conn, "orders": orders}


def _airflow_dag(stack: ExitStack) -> dict[str, Any]:
    return {"api": JobApi(), "load": Recorder(), "fetch": Recorder(), "upsert": Recorder(),
            "fetch_since": Recorder()}


def _hand_written(stack: ExitStack) -> dict[str, Any]:
    return {"api": JobApi(states=("RUNNING",)), "MyTrigger": MyTrigger}


def _none(stack: ExitStack) -> dict[str, Any]:
    return {}


PYTHON: dict[str, Snippet] = {
    "ResumableJobMixin: one external job, whatever crashes [python 1]":
        Snippet(_job_api, check_mixin),
    "@checkpoint: resume after the last committed page [python 1]":
        Snippet(_pages, check_checkpoint),
    "@watermark: the cursor moves only past rows that were loaded [python 1]":
        Snippet(_orders, check_watermark),
    "Using it in Airflow [python 1]": Snippet(_airflow_dag, check_airflow_dag),
    "Deferrable [python 1]": Snippet(_job_api, check_deferrable),
    "Deferrable [python 2]": Snippet(_hand_written, check_hand_written),
    "The store client [python 1]": Snippet(_none, check_store_client),
    "Metrics, traces and logs [python 1]": Snippet(_job_api, check_plain_job),
}

#: sh blocks run line by line, and what some of their commands must print.
SHELL: dict[str, dict[str, str]] = {
    "The `resumable` command [sh 1]": {
        "get": "41\n", "list": "{}\n", "scopes": "[]\n",
        "cleanup": "would delete 0 expired rows\n"},
}

#: Blocks deliberately not run, and why.
NOT_RUN: dict[str, str] = {
    "Set-up in two commands [sh 1]": "installs the package and runs the 15 s demo",
    "Set-up in two commands [sh 2]": "installs the dev extras and runs the whole suite",
    "Performance [sh 1]": "runs every benchmark (8 minutes; tests/benchmarks runs each "
                          "one at smoke size, and run_all.py --quick --only one)",
}


def _described(block: Block) -> str:
    return f"README.md line {block.line - 1}, under the heading {block.heading!r}"


# -- the tests -------------------------------------------------------------------------

@pytest.mark.parametrize("block", _blocks("ini"), ids=lambda b: b.id)
def test_airflow_cfg_lines_are_options_airflow_knows(block: Block) -> None:
    """Every ``[section] option`` of an ``ini`` block is one Airflow 3.3 (with this package
    installed as a provider) knows, and every dotted class path in it imports."""
    import configparser
    import importlib

    import_airflow_sdk()
    from airflow.configuration import conf

    parsed = configparser.ConfigParser(inline_comment_prefixes=("#",))
    parsed.read_string(block.source)
    assert parsed.sections(), _described(block)
    for section in parsed.sections():
        for option, value in parsed.items(section):
            assert conf.has_option(section, option), f"[{section}] {option} is unknown"
            if re.fullmatch(r"[a-z_]+(\.[a-z_]+)+\.[A-Z]\w+", value):
                module, _, name = value.rpartition(".")
                assert getattr(importlib.import_module(module), name), value


def test_every_readme_block_is_declared() -> None:
    """A new snippet, or a new language tag, must be declared here to be run."""
    problems = []
    for block in BLOCKS:
        if block.lang == "":
            continue  # program output (benchmark tables)
        if block.lang == "ini":
            continue  # airflow.cfg lines: test_airflow_cfg_lines_are_options_airflow_knows
        if block.lang not in ("python", "sh"):
            problems.append(f"{_described(block)}: a ```{block.lang} block; tag code "
                            "```python or ```sh so this test runs it")
        elif block.id not in {**PYTHON, **SHELL, **NOT_RUN}:
            problems.append(f"{_described(block)}: the {block.lang} block {block.id!r} "
                            "is new; declare it in PYTHON (its fakes and check), SHELL "
                            "or NOT_RUN in tests/test_readme.py")
    found = {block.id for block in BLOCKS}
    problems += [f"{stale!r} is declared in tests/test_readme.py but no such block is in "
                 "README.md" for stale in {**PYTHON, **SHELL, **NOT_RUN}.keys() - found]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("block", _blocks("python"), ids=lambda b: b.id)
def test_python_snippet_shows_its_imports(block: Block) -> None:
    """Every name a snippet uses is imported or defined in it, but the declared fakes."""
    snippet = PYTHON.get(block.id)
    if snippet is None:
        pytest.fail(f"{_described(block)}: a new python block; declare it in PYTHON")
    missing = undefined_names(block.source)
    with ExitStack() as stack:
        fakes = set(snippet.fakes(stack))
    assert missing <= fakes, (
        f"{_described(block)} uses {sorted(missing - fakes)} without importing or "
        "defining them; import them in the snippet (or, for an outside service, declare a "
        "fake in tests/test_readme.py)")
    assert fakes <= missing, (
        f"{_described(block)}: the fakes {sorted(fakes - missing)} are declared but the "
        "snippet does not use them (or defines them itself)")


@pytest.mark.parametrize("block", _blocks("python"), ids=lambda b: b.id)
def test_python_snippet_runs(block: Block, snippet_env: str,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The snippet runs with only its fakes, and does what the README says it does."""
    snippet = PYTHON.get(block.id)
    if snippet is None:
        pytest.fail(f"{_described(block)}: a new python block; declare it in PYTHON")
    if needs_airflow(block):
        import_airflow_sdk()
    module = module_for(block)
    monkeypatch.setitem(sys.modules, module.__name__, module)  # importable by its path
    with ExitStack() as stack:
        module.__dict__.update(snippet.fakes(stack))
        try:
            snippet.check(run_block(block, module))
        except Exception as exc:
            raise AssertionError(f"the README snippet at {_described(block)} failed: "
                                 f"{type(exc).__name__}: {exc}") from exc


def _commands(block: Block) -> list[list[str]]:
    commands = []
    for line in block.source.splitlines():
        argv = shlex.split(line, comments=True)
        if argv:
            assert argv[0] == "resumable", f"{_described(block)}: not a resumable command: {line}"
            commands.append(argv)
    return commands


@pytest.mark.parametrize("block", [b for b in _blocks("sh") if b.id in SHELL],
                         ids=lambda b: b.id)
def test_shell_commands_run(block: Block, snippet_env: str) -> None:
    """Each line exits 0 on a temporary store (``RESUMABLE_STORE_URL``), in order."""
    expected = SHELL[block.id]
    env = {**os.environ, "RESUMABLE_STORE_URL": snippet_env}
    for argv in _commands(block):
        done = subprocess.run([str(RESUMABLE), *argv[1:]], env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, (f"{_described(block)}: `{shlex.join(argv)}` exited "
                                      f"{done.returncode}: {done.stderr.strip()}")
        if argv[1] in expected:
            assert done.stdout == expected[argv[1]], f"`{shlex.join(argv)}`"
    gone = subprocess.run([str(RESUMABLE), "get", "--dag", "D", "--run", "R", "--task", "T",
                           "page"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert gone.returncode == 1, "`get` of an absent key: exit 1, as the comment says"


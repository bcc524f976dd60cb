"""``resumable jobs --airflow-db``: the jobs in Airflow's own ``task_state_store``, read-only.

The table is Airflow 3.3.2's own: a child process imports ``airflow.models`` (with a
throwaway ``AIRFLOW_HOME``) and compiles ``TaskStateStoreModel.__table__`` (table,
constraints, indexes) for SQLite and PostgreSQL; for SQLite that is, to the character,
what ``airflow db migrate`` creates. A one-column ``dag_run`` stands in for Airflow's
(the table's foreign key needs it). The rows are what the mixin wrote: it runs against
one of our stores, and each of its rows is copied into the table as Airflow's Execution
API stores values (``json.dumps``). So the listing from Airflow's table must equal the
listing from our store, row for row.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, literal, select, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from resumable._airflow_jobs import ENV_AIRFLOW_DB, like_prefix, read_only_engine
from resumable._cli import main, tracked_jobs
from resumable._job_record import META_PREFIX, meta_key
from store_client import NEVER_EXPIRE, TaskScope, connect, decode_value
from tests.resumable.fake_jobs import FakeJobs, FakeOperator
from tests.support import require_or_skip
from tests.support.airflow_env import airflow_installed

_DDL_SCRIPT = """
import json
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
import airflow.models.dagrun  # the table the foreign key names
from airflow.models.task_state_store import TaskStateStoreModel
table = TaskStateStoreModel.__table__
print(json.dumps({d.name: [str(CreateTable(table).compile(dialect=d))] + [
    str(CreateIndex(i).compile(dialect=d)) for i in sorted(table.indexes, key=lambda i: i.name)]
    for d in (sqlite.dialect(), postgresql.dialect())}))
"""
DAG_RUN_STUB = "CREATE TABLE dag_run (id INTEGER PRIMARY KEY)"
UNLISTED = {"bare_airflow_id", "RESUMABLE.JOB/upper", "resumable.job/by_ref"}


@pytest.fixture(autouse=True)
def _no_inherited_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_AIRFLOW_DB, raising=False)


@pytest.fixture(scope="module")
def airflow_ddl() -> dict[str, list[str]]:
    """Airflow 3.3.2's ``task_state_store`` DDL, by dialect, compiled from its model."""
    if not airflow_installed():
        require_or_skip("apache-airflow is not installed: pip install 'resumable[airflow]'")
    with tempfile.TemporaryDirectory(prefix="airflow-home-") as home:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
               "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
        done = subprocess.run([sys.executable, "-c", _DDL_SCRIPT], env=env, timeout=120,
                              capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    ddl: dict[str, list[str]] = json.loads(done.stdout.splitlines()[-1])
    assert "CONSTRAINT task_state_store_uq UNIQUE" in ddl["sqlite"][0]
    return ddl


@pytest.fixture(scope="module")
def mixin_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[dict[str, Any]]]:
    """The mixin's jobs in one of our stores: its URL, and every row the mixin wrote."""
    url = f"sqlite:///{tmp_path_factory.mktemp('ours') / 'ours.db'}"
    client = connect(url)
    for dag, run, index in (("etl", "r1", -1), ("etl", "r2", 3), ("ml", "r1", -1)):
        FakeOperator(FakeJobs(script=["SUCCESS"])).execute(
            {"task_store": client.task_store(TaskScope(dag, run, "spark", index))})
    client.task_store(TaskScope("ml", "r2", "spark")).set(
        meta_key("other_id"), {"generation": 1, "phase": "submitting", "token": "t"},
        retention=NEVER_EXPIRE)  # an intent: no ID yet
    rows = [{"dag_id": e.scope.dag_id, "run_id": e.scope.run_id, "task_id": e.scope.task_id,
             "map_index": e.scope.map_index, "key": e.key,
             "value": json.dumps(decode_value(e.value))} for e in client.scan_tasks()]
    client.close()
    assert any(r["key"].startswith("resumable.claim/") for r in rows)  # not jobs: left out
    # what the mixin never writes but Airflow's table may hold
    extra = [("bare_airflow_id", "7"), ("RESUMABLE.JOB/upper", '{"phase": "finished"}'),
             ("resumable.job/by_ref", '{"__airflow_state_ref__": "s3://b/k"}')]
    rows += [{"dag_id": "etl", "run_id": "r1", "task_id": "other", "map_index": -1,
              "key": key, "value": value} for key, value in extra]
    return url, rows


def _fill(url: str, ddl: list[str], rows: list[dict[str, Any]]) -> None:
    engine = create_engine(url)
    runs = {pair: n for n, pair in enumerate(sorted({(r["dag_id"], r["run_id"]) for r in rows}),
                                             start=1)}
    with engine.begin() as conn:
        for statement in [DAG_RUN_STUB, *ddl]:
            conn.execute(text(statement))
        for n in runs.values():
            conn.execute(text("INSERT INTO dag_run (id) VALUES (:n)"), {"n": n})
        conn.execute(text(
            "INSERT INTO task_state_store (dag_run_id, task_id, map_index, key, dag_id, run_id, "
            "value, updated_at, expires_at) VALUES (:dag_run_id, :task_id, :map_index, :key, "
            ":dag_id, :run_id, :value, CURRENT_TIMESTAMP, NULL)"),
            [{**r, "dag_run_id": runs[r["dag_id"], r["run_id"]]} for r in rows])
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def airflow_db(request: pytest.FixtureRequest, tmp_path: Path, airflow_ddl: dict[str, list[str]],
               mixin_rows: tuple[str, list[dict[str, Any]]]) -> str:
    """The URL of an Airflow-shaped metadata database holding the mixin's rows."""
    if request.param == "sqlite":
        path = tmp_path / "airflow.db"
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # as Airflow leaves its file
        conn.close()
        url = f"sqlite:///{path}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"airflow_{uuid.uuid4().hex[:12]}")
    _fill(url, airflow_ddl[request.param], mixin_rows[1])
    return url


def _without_age(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "age"} for row in rows]


def test_lists_the_same_rows_as_our_store(airflow_db: str,
                                          mixin_rows: tuple[str, list[dict[str, Any]]]) -> None:
    ours = tracked_jobs(mixin_rows[0])
    theirs = tracked_jobs(None, airflow_db=airflow_db)
    assert len(ours) == 4
    assert _without_age(theirs) == _without_age(ours)
    assert [r["age"][-1] for r in theirs] == ["s", "s", "s", "-"]  # the intent has no time
    assert not {row["external_id_key"] for row in theirs} & UNLISTED


def test_json_and_table_output(airflow_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "--airflow-db", airflow_db, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["scope"], r["external_id_key"], r["external_id"], r["status"], r["phase"],
             r["generation"]) for r in rows] == [
        ("etl/r1/spark", "fake_job_id", 100, "SUCCESS", "finished", 0),
        ("etl/r2/spark[3]", "fake_job_id", 100, "SUCCESS", "finished", 0),
        ("ml/r1/spark", "fake_job_id", 100, "SUCCESS", "finished", 0),
        ("ml/r2/spark", "other_id", None, None, "submitting", 1)]
    assert all(len(r["token"]) > 8 for r in rows[:3]) and rows[3]["token"] == "t"
    assert all(r["submitted_at"] for r in rows[:3])
    assert main(["jobs", "--airflow-db", airflow_db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["SCOPE", "KEY", "JOB", "ID", "STATUS", "PHASE", "GEN", "AGE"]
    assert out[2].split()[:6] == ["etl/r2/spark[3]", "fake_job_id", "100", "SUCCESS",
                                  "finished", "0"]
    assert out[4].split()[:5] == ["ml/r2/spark", "other_id", "-", "-", "submitting"]


def test_filters_run_in_one_query(airflow_db: str, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    statements: list[str] = []

    def recording(url: str, *, real: Any = read_only_engine) -> Engine:
        engine: Engine = real(url)
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cursor, sql, *_: statements.append(sql))
        return engine

    monkeypatch.setattr("store_client.airflow_db.read_only_engine", recording)

    def scopes(*args: str) -> list[str]:
        statements.clear()
        assert main(["jobs", "--airflow-db", airflow_db, "--json", *args]) == 0
        [query] = [s for s in statements if "FROM task_state_store AS meta" in s]
        assert "LIKE" in query and "LEFT OUTER JOIN task_state_store AS ids" in query
        for flag, column in (("--dag", "meta.dag_id ="), ("--run", "meta.run_id =")):
            assert (column in query) == (flag in args), query
        return [row["scope"] for row in json.loads(capsys.readouterr().out)]

    assert scopes() == ["etl/r1/spark", "etl/r2/spark[3]", "ml/r1/spark", "ml/r2/spark"]
    assert scopes("--dag", "etl") == ["etl/r1/spark", "etl/r2/spark[3]"]
    assert scopes("--run", "r1") == ["etl/r1/spark", "ml/r1/spark"]
    assert scopes("--dag", "ml", "--run", "r1") == ["ml/r1/spark"]
    assert scopes("--status", "SUCCESS") == ["etl/r1/spark", "etl/r2/spark[3]", "ml/r1/spark"]
    assert scopes("--dag", "ml", "--status", "submitting") == ["ml/r2/spark"]
    assert scopes("--dag", "nope") == []


def test_reading_never_writes(airflow_db: str) -> None:
    path = Path(airflow_db.removeprefix("sqlite:///")) if airflow_db.startswith("sqlite") \
        else None
    before = (path.read_bytes(), path.stat().st_mtime_ns) if path else None
    assert len(tracked_jobs(None, airflow_db=airflow_db)) == 4
    if path is not None:
        assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    engine = read_only_engine(airflow_db)
    try:
        for statement in ("DELETE FROM task_state_store",
                          "CREATE TABLE resumable_probe (x INTEGER)"):
            with engine.connect() as conn, pytest.raises(SQLAlchemyError) as caught:
                conn.execute(text(statement))
            assert "read-only" in str(caught.value) or "readonly" in str(caught.value)
    finally:
        engine.dispose()
    assert len(tracked_jobs(None, airflow_db=airflow_db)) == 4
    if path is not None:
        assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_the_like_prefix_is_escaped(airflow_db: str) -> None:
    engine = read_only_engine(airflow_db)
    pattern = like_prefix("a_%\\b")
    try:
        with engine.connect() as conn:
            matches = [conn.execute(select(literal(s).like(pattern, escape="\\"))).scalar()
                       for s in ("a_%\\b", "a_%\\bc", "ab%\\bc", "a_x\\bc", "a_%bc", "b")]
    finally:
        engine.dispose()
    assert [bool(m) for m in matches] == [True, True, False, False, False, False]
    assert like_prefix(META_PREFIX) == "resumable.job/%"


def _error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("resumable: error: ") and err.count("\n") == 1, err
    return err


def test_a_missing_database_or_table_is_a_user_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "home" / "airflow.db"
    err = _error(["jobs", "--airflow-db", f"sqlite:///{missing}"], capsys)
    assert "no Airflow metadata database" in err and str(missing) in err
    assert not missing.parent.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    assert "has no table task_state_store" in _error(
        ["jobs", "--airflow-db", f"sqlite:///{empty}", "--json"], capsys)
    assert empty.read_bytes() == b""  # no table was created
    (tmp_path / "text.db").write_text("not a database\n" * 100)
    assert "no Airflow metadata database" in _error(
        ["jobs", "--airflow-db", f"sqlite:///{tmp_path / 'text.db'}"], capsys)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        conn.execute("CREATE TABLE task_state_store (id INTEGER, key TEXT, value TEXT)")
    conn.close()
    assert "lacks the columns dag_id, dag_run_id, map_index, run_id, task_id" in _error(
        ["jobs", "--airflow-db", f"sqlite:///{tmp_path / 'old.db'}"], capsys)
    for url in ("mysql://u:pw@host/airflow", "sqlite://", "not a url"):
        err = _error(["jobs", "--airflow-db", url], capsys)
        assert "pw" not in err
    assert "exclusive" in _error(["jobs", "--airflow-db", f"sqlite:///{empty}", "--url",
                                  f"sqlite:///{empty}"], capsys)


def test_a_missing_postgresql_database_or_table_is_a_user_error(
        postgres_server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    base = postgres_server.database_url("nope").replace("postgres@", "postgres:s3cret@")
    err = _error(["jobs", "--airflow-db", base], capsys)
    assert "no Airflow metadata database" in err and '"nope" does not exist' in err
    assert "s3cret" not in err and "postgres:***@" in err
    plain = postgres_server.database_url("postgres").replace("+psycopg", "")  # Airflow's form
    assert "has no table task_state_store" in _error(["jobs", "--airflow-db", plain], capsys)


def test_an_unreachable_server_is_exit_3(capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESUMABLE_CONNECT_TIMEOUT", "2")
    assert main(["jobs", "--airflow-db", "postgresql://u:pw@127.0.0.1:9/airflow"]) == 3
    err = capsys.readouterr().err
    assert "StoreUnavailableError" in err and "pw" not in err and err.count("\n") == 1


def test_the_environment_variable_and_help(airflow_db: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(ENV_AIRFLOW_DB, airflow_db)
    assert main(["jobs", "--json", "--dag", "ml"]) == 0
    assert [r["scope"] for r in json.loads(capsys.readouterr().out)] == ["ml/r1/spark",
                                                                         "ml/r2/spark"]
    ours = f"sqlite:///{tmp_path / 'ours.db'}"
    with connect(ours) as client:  # a store of ours without jobs: --url beats the variable
        client.task_store(TaskScope("d", "r", "t")).set("unrelated", 1)
    assert main(["jobs", "--json", "--url", ours]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["jobs", "--help"]) == 0
    assert ENV_AIRFLOW_DB in " ".join(capsys.readouterr().out.split())


def test_console_script_errors_are_one_line(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("resumable")
    missing = tmp_path / "airflow.db"
    done = subprocess.run([str(exe), "jobs", "--airflow-db", f"sqlite:///{missing}"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert not missing.exists()


def test_a_write_through_sqlite_is_refused_even_without_the_table(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    sqlite3.connect(path).close()
    engine = read_only_engine(f"sqlite:///{path}")
    with engine.connect() as conn, pytest.raises(OperationalError, match=r"readonly"):
        conn.execute(text("CREATE TABLE x (y INTEGER)"))
    engine.dispose()
    assert path.read_bytes() == b""

"""The ``resumable`` command: read and write task and asset stores from a shell.

How it works: argparse subcommands (``get``, ``set``, ``list``, ``delete``, ``clear``,
``cleanup``, ``scopes``) each take a scope (``--dag/--run/--task [--map-index]`` or ``--asset``),
``--url`` (default: the configured store, as ``connect()`` resolves it) and ``--json``
(machine-readable output). Every argument is checked (``store_client._cli_args``)
before anything connects, so a mistake never creates or changes a store. Read-only
commands (``get``, ``list``, ``scopes``, ``cleanup --dry-run``; ``jobs`` of ``resumable``) connect
with ``create=False``: a mistyped ``--url`` is an error, never a new, empty store.
:func:`main` takes ``extend(subparsers, common)`` to add commands (``resumable`` adds
``jobs`` and ``demo``); their handlers get the same error handling and output.

Exit status (also in ``--help``):

- 0: done.
- 1: ``get``: the key is not in the store.
- 2: a user mistake, on one line of stderr: a bad flag, key, value, scope, retention,
  URL or environment variable, an argument that is not UTF-8, or a store that does not
  exist (for a read-only command).
- 3: the store is unreachable or failed (``StoreUnavailableError``, ``StoreAuthError``,
  ``StoreBackendError``, ``SchemaVersionError``), on one line of stderr.
- 4: an unexpected error: a bug. One line on stderr; set ``RESUMABLE_DEBUG=1`` to see
  the traceback instead.
- 130: interrupted (Ctrl-C); 141: stdout was closed early (``resumable list | head``).

No traceback is printed for any of these, and printing never fails on a value the
terminal cannot encode (see ``store_client._cli_output``).

``scopes`` lists every task scope and asset with live keys: kind, scope, key count, last
change (an asset under the string its values are stored by: its name, else its URI).

What it does not do: interactive editing; ``scopes`` on Airflow's REST API or in-task
accessors (they cannot list across scopes: ``StoreBackendError``, exit 3).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

from store_client._cli_args import (
    UsageError,
    check_batch_size,
    check_environment,
    check_map_index,
    check_utf8,
    parse_retention,
    parse_value,
)
from store_client._cli_output import (
    emit,
    emit_json,
    escaping_streams,
    report,
    silence_stdout,
)
from store_client._client import connect
from store_client._errors import (
    ConfigurationError,
    InvalidKeyError,
    InvalidRetentionError,
    InvalidScopeError,
    InvalidValueError,
    RetentionTypeError,
    StoreError,
)
from store_client._scopes import AssetScope, TaskScope
from store_client._stores import AssetStore, TaskStore
from store_client._values import encode_value, validate_key

__all__ = ["EXIT_BUG", "EXIT_NOT_FOUND", "EXIT_OK", "EXIT_STORE", "EXIT_USAGE", "Extension",
           "UsageError", "build_parser", "main", "run"]

PROG: Final = "resumable"
EXIT_OK: Final = 0
EXIT_NOT_FOUND: Final = 1
EXIT_USAGE: Final = 2
EXIT_STORE: Final = 3
EXIT_BUG: Final = 4
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141
DEBUG_ENV: Final = "RESUMABLE_DEBUG"
EPILOG: Final = f"""\
exit status:
  0    done
  1    get: the key is not in the store
  2    a user mistake (bad flag, key, value, scope, retention, URL or environment
       variable; an argument that is not UTF-8; a store that does not exist)
  3    the store is unreachable or failed
  4    an unexpected error (a bug): set {DEBUG_ENV}=1 to see the traceback
  130  interrupted; 141: stdout closed early

Read-only commands (get, list, scopes, cleanup --dry-run) never create a store."""

_USER_ERRORS: Final = (ConfigurationError, InvalidKeyError, InvalidRetentionError,
                       InvalidScopeError, InvalidValueError, RetentionTypeError)
_READ_ONLY: Final = frozenset({"get", "list", "scopes"})
#: The flags behind TaskScope/AssetScope fields, for the store's messages.
_SCOPE_FLAGS: Final = (("TaskScope.dag_id", "--dag"), ("TaskScope.run_id", "--run"),
                       ("TaskScope.task_id", "--task"), ("AssetScope.name", "--asset"))

Extension = Callable[[Any, argparse.ArgumentParser], None]


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, not a usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _common() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument("--url", help="store URL (default: RESUMABLE_STORE_URL, else the "
                        "embedded SQLite file)")
    common.add_argument("--json", action="store_true", help="print JSON for scripts")
    return common


def _scope_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scope (a task instance or an asset)")
    group.add_argument("--dag", help="DAG id")
    group.add_argument("--run", help="run id")
    group.add_argument("--task", help="task id")
    group.add_argument("--map-index", type=int, default=-1, help="map index (default -1)")
    group.add_argument("--asset", help="asset name (instead of --dag/--run/--task)")


def build_parser(extend: Extension | None = None) -> argparse.ArgumentParser:
    """The ``resumable`` argument parser; ``extend(subparsers, common)`` adds commands.

    Every subcommand sets ``handler``: a function of the parsed arguments returning the
    exit status.
    """
    parser = _Parser(prog=PROG, description="Read and write resumable's task and asset stores.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    common = _common()

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help_text, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    p = command("get", "print one value")
    _scope_args(p)
    p.add_argument("key")
    p = command("set", "store one value")
    _scope_args(p)
    p.add_argument("key")
    p.add_argument("value", help="a JSON value (quote strings: '\"text\"'), or see --string")
    p.add_argument("--string", action="store_true", help="store VALUE as a string, not JSON")
    p.add_argument("--retention", help="task stores: 90s, 15m, 12h, 7d or 'never' "
                   "(default: RESUMABLE_DEFAULT_RETENTION_DAYS)")
    p = command("list", "print every live key and value")
    _scope_args(p)
    p = command("delete", "delete one key")
    _scope_args(p)
    p.add_argument("key")
    p = command("clear", "delete every key of a scope")
    _scope_args(p)
    p.add_argument("--all-map-indices", action="store_true",
                   help="task stores: clear every map index of the task")
    p = command("cleanup", "delete expired task-store rows")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    p.add_argument("--batch-size", type=int, default=0,
                   help="rows per committed batch (default 0: one statement)")
    p.add_argument("--airflow-db", metavar="URL", default=None,
                   help="also delete worker-side values (store_client.airflow.StoreBackend) "
                        "whose reference is gone from this Airflow metadata database")
    command("scopes", "list every task scope and asset holding live keys")
    handlers = {"cleanup": _cleanup_command, "scopes": _scopes_command}
    for name, subparser in sub.choices.items():
        subparser.set_defaults(handler=handlers.get(name, _run))
    if extend is not None:
        extend(sub, common)
    return parser


def _scope(args: argparse.Namespace) -> TaskScope | AssetScope:
    task_parts = (args.dag, args.run, args.task)
    try:
        if args.asset is not None:
            if any(part is not None for part in task_parts) or args.map_index != -1:
                raise UsageError("give either --asset or --dag/--run/--task[/--map-index], "
                                 "not both")
            return AssetScope(name=args.asset)
        if any(part is None for part in task_parts):
            raise UsageError("a scope needs --dag, --run and --task (or --asset NAME)")
        return TaskScope(args.dag, args.run, args.task, check_map_index(args.map_index))
    except InvalidScopeError as exc:
        message = str(exc)
        for field, flag in _SCOPE_FLAGS:
            message = message.replace(field, flag)
        raise UsageError(message) from None


def _run(args: argparse.Namespace) -> int:
    """get, set, list, delete, clear: every argument checked, then one connection."""
    scope = _scope(args)
    key: str = validate_key(args.key) if "key" in args else ""
    value: Any = None
    if args.command == "set":
        if args.retention is not None and isinstance(scope, AssetScope):
            raise UsageError("--retention applies to task stores only; asset values never "
                             "expire")
        value = parse_value(args.value, as_string=args.string)
        encode_value(key, value)  # NaN, None, ...: refused before the store exists
    retention = parse_retention(getattr(args, "retention", None))
    with connect(args.url, create=args.command not in _READ_ONLY) as client:
        store: TaskStore | AssetStore = (client.task_store(scope)
                                         if isinstance(scope, TaskScope)
                                         else client.asset_store(scope))
        if args.command == "get":
            found = store.get(key, default=None)
            if found is None:
                report(f"{PROG}: key {key!r} not found in {store.scope}")
                return EXIT_NOT_FOUND
            if isinstance(found, str) and not args.json:
                emit(found)
            else:
                emit_json(found)
        elif args.command == "set":
            if isinstance(store, TaskStore):
                store.set(key, value, retention=retention)
            else:
                store.set(key, value)
            if args.json:
                emit_json({"key": key, "stored": True})
        elif args.command == "list":
            _print_entries(store.items(), as_json=args.json)
        elif args.command == "delete":
            store.delete(key)
        elif isinstance(store, TaskStore):
            store.clear(all_map_indices=args.all_map_indices)
        else:
            store.clear()
    return EXIT_OK


def _print_entries(entries: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        emit_json(entries)
        return
    for key in sorted(entries):
        emit_json(entries[key], prefix=f"{key}\t")


def _cleanup_command(args: argparse.Namespace) -> int:
    batch_size = check_batch_size(args.batch_size)
    with connect(args.url, create=not args.dry_run) as client:
        report_ = client.cleanup(dry_run=args.dry_run, batch_size=batch_size)
        orphans: list[tuple[TaskScope, str]] = []
        if args.airflow_db is not None:  # SQLAlchemy loads only when asked
            from store_client._airflow_orphans import delete_orphans, orphaned_values

            orphans = orphaned_values(client, args.airflow_db)
            if not args.dry_run:
                delete_orphans(client, orphans)
    if args.json:
        rows = [{"dag_id": r.dag_id, "run_id": r.run_id, "task_id": r.task_id,
                 "map_index": r.map_index, "key": r.key} for r in report_.rows]
        emit_json({"count": report_.count, "dry_run": report_.dry_run, "rows": rows,
                   "orphans": [{"scope": str(scope), "key": key} for scope, key in orphans]})
        return EXIT_OK
    for r in report_.rows:
        emit(f"{TaskScope(r.dag_id, r.run_id, r.task_id, r.map_index)}\t{r.key}")
    verb = "would delete" if report_.dry_run else "deleted"
    emit(f"{verb} {report_.count} expired row{'s' * (report_.count != 1)}")
    if args.airflow_db is not None:
        emit(f"{verb} {len(orphans)} worker-side value{'s' * (len(orphans) != 1)} whose "
             "reference Airflow no longer holds")
    return EXIT_OK


def _scopes_command(args: argparse.Namespace) -> int:
    """``scopes``: one line per task scope or asset: kind, scope, live keys, last change."""
    with connect(args.url, create=False) as client:
        found = client.scopes()
    rows = [{"kind": "task" if isinstance(s.scope, TaskScope) else "asset",
             "scope": str(s.scope), "keys": s.keys, "updated_at": s.updated_at.isoformat()}
            for s in found]
    if args.json:
        emit_json(rows)
        return EXIT_OK
    for row in rows:
        emit(f"{row['kind']}\t{row['scope']}\t{row['keys']}\t{row['updated_at']}")
    return EXIT_OK


def _debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


def main(argv: Sequence[str] | None = None, extend: Extension | None = None) -> int:
    """Run the ``resumable`` command on ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status (see the module docstring); ``extend(subparsers, common)``
    adds commands, whose handlers return an exit status too.
    """
    arguments = sys.argv[1:] if argv is None else list(argv)
    with escaping_streams():
        try:
            check_utf8(arguments)
            check_environment(os.environ)
            try:
                args = build_parser(extend).parse_args(arguments)
            except SystemExit as exc:  # --help
                return exc.code if isinstance(exc.code, int) else EXIT_USAGE
            handler: Callable[[argparse.Namespace], int] = args.handler
            status = handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return status
        except (UsageError, *_USER_ERRORS) as exc:
            report(f"{PROG}: error: {exc}")
            return EXIT_USAGE
        except StoreError as exc:
            report(f"{PROG}: {type(exc).__name__}: {exc}")
            return EXIT_STORE
        except KeyboardInterrupt:
            report(f"{PROG}: interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            silence_stdout()
            return EXIT_BROKEN_PIPE
        except Exception as exc:
            if _debugging():
                raise
            report(f"{PROG}: internal error: {type(exc).__name__}: {exc} (this is a bug; "
                   f"set {DEBUG_ENV}=1 to see the traceback)")
            return EXIT_BUG


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()

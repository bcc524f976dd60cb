"""The ``resumable`` command: read and write task and asset stores from a shell.

How it works: argparse subcommands (``get``, ``set``, ``list``, ``delete``, ``clear``,
``cleanup``) each take a scope (``--dag/--run/--task [--map-index]`` or ``--asset``),
``--url`` (default: the configured store, as ``connect()`` resolves it) and ``--json``
(machine-readable output). A user mistake (bad flag, key, value, scope, retention or
configuration) prints one line to stderr and exits 2; an unreachable store or a store
failure prints one line and exits 1; ``get`` of an absent key exits 1. No traceback is
shown for any of these.

What it does not do: interactive editing, or listing every scope in a store.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NoReturn

from store_client._client import StoreClient, connect
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
from store_client._values import NEVER_EXPIRE

__all__ = ["main"]

PROG = "resumable"
_USER_ERRORS = (ConfigurationError, InvalidKeyError, InvalidRetentionError, InvalidScopeError,
                InvalidValueError, RetentionTypeError)
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class UsageError(Exception):
    """A mistake in the command line; exit status 2."""


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


Extension = Callable[[Any, argparse.ArgumentParser], None]


def build_parser(extend: Extension | None = None) -> argparse.ArgumentParser:
    """The ``resumable`` argument parser; ``extend(subparsers, common)`` adds commands.

    Every subcommand sets ``handler``: a function of the parsed arguments returning the
    exit status.
    """
    parser = _Parser(prog=PROG, description="Read and write resumable's task and asset stores.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                parser_class=_Parser)
    common = _common()
    p = sub.add_parser("get", parents=[common], help="print one value")
    _scope_args(p)
    p.add_argument("key")
    p = sub.add_parser("set", parents=[common], help="store one value")
    _scope_args(p)
    p.add_argument("key")
    p.add_argument("value", help="a JSON value (quote strings: '\"text\"'), or see --string")
    p.add_argument("--string", action="store_true", help="store VALUE as a string, not JSON")
    p.add_argument("--retention", help="task stores: 90s, 15m, 12h, 7d or 'never' "
                   "(default: RESUMABLE_DEFAULT_RETENTION_DAYS)")
    p = sub.add_parser("list", parents=[common], help="print every live key and value")
    _scope_args(p)
    p = sub.add_parser("delete", parents=[common], help="delete one key")
    _scope_args(p)
    p.add_argument("key")
    p = sub.add_parser("clear", parents=[common], help="delete every key of a scope")
    _scope_args(p)
    p.add_argument("--all-map-indices", action="store_true",
                   help="task stores: clear every map index of the task")
    p = sub.add_parser("cleanup", parents=[common], help="delete expired task-store rows")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted")
    p.add_argument("--batch-size", type=int, default=0,
                   help="rows per committed batch (default 0: one statement)")
    for name, command in sub.choices.items():
        command.set_defaults(handler=_run if name != "cleanup" else _cleanup_command)
    if extend is not None:
        extend(sub, common)
    return parser


def _store(client: StoreClient, args: argparse.Namespace) -> TaskStore | AssetStore:
    task_parts = (args.dag, args.run, args.task)
    if args.asset is not None:
        if any(part is not None for part in task_parts):
            raise UsageError("give either --asset or --dag/--run/--task, not both")
        return client.asset_store(AssetScope(name=args.asset))
    if any(part is None for part in task_parts):
        raise UsageError("a scope needs --dag, --run and --task (or --asset NAME)")
    return client.task_store(TaskScope(args.dag, args.run, args.task, args.map_index))


def _parse_value(args: argparse.Namespace) -> Any:
    if args.string:
        return args.value
    try:
        return json.loads(args.value)
    except ValueError:
        raise UsageError(
            f"VALUE {args.value!r} is not JSON; quote a string ('\"{args.value}\"') "
            "or pass --string") from None


def _parse_retention(text: str | None) -> timedelta | None:
    if text is None:
        return None
    if text.strip().lower() == "never":
        return NEVER_EXPIRE
    match = _DURATION.match(text.strip())
    if not match:
        raise UsageError(f"--retention {text!r}: use a number with s, m, h or d "
                         "(e.g. 12h), or 'never'")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _show(value: Any, as_json: bool) -> str:
    if isinstance(value, str) and not as_json:
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _run(args: argparse.Namespace) -> int:
    if args.command == "set" and args.retention is not None and args.asset is not None:
        raise UsageError("--retention applies to task stores only; asset values never expire")
    value = _parse_value(args) if args.command == "set" else None
    retention = _parse_retention(getattr(args, "retention", None))
    with connect(args.url) as client:
        store = _store(client, args)
        if args.command == "get":
            found = store.get(args.key, default=None)
            if found is None:
                print(f"{PROG}: key {args.key!r} not found in {store.scope}", file=sys.stderr)
                return 1
            print(_show(found, args.json))
        elif args.command == "set":
            if isinstance(store, TaskStore):
                store.set(args.key, value, retention=retention)
            else:
                store.set(args.key, value)
            if args.json:
                print(json.dumps({"key": args.key, "stored": True}))
        elif args.command == "list":
            entries = store.items()
            if args.json:
                print(json.dumps(entries, ensure_ascii=False, sort_keys=True))
            for key in [] if args.json else sorted(entries):
                print(f"{key}\t{_show(entries[key], True)}")
        elif args.command == "delete":
            store.delete(args.key)
        elif isinstance(store, TaskStore):
            store.clear(all_map_indices=args.all_map_indices)
        else:
            store.clear()
    return 0


def _cleanup_command(args: argparse.Namespace) -> int:
    if args.batch_size < 0:
        raise UsageError(f"--batch-size must be 0 or more, got {args.batch_size}")
    with connect(args.url) as client:
        report = client.cleanup(dry_run=args.dry_run, batch_size=args.batch_size)
    rows = [{"dag_id": r.dag_id, "run_id": r.run_id, "task_id": r.task_id,
             "map_index": r.map_index, "key": r.key} for r in report.rows]
    if args.json:
        print(json.dumps({"count": report.count, "dry_run": report.dry_run, "rows": rows}))
        return 0
    for r in report.rows:
        print(f"{TaskScope(r.dag_id, r.run_id, r.task_id, r.map_index)}\t{r.key}")
    verb = "would delete" if report.dry_run else "deleted"
    print(f"{verb} {report.count} expired row{'s' * (report.count != 1)}")
    return 0


def main(argv: Sequence[str] | None = None, extend: Extension | None = None) -> int:
    """Run the ``resumable`` command; returns the exit status."""
    try:
        args = build_parser(extend).parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except (UsageError, *_USER_ERRORS) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"{PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
